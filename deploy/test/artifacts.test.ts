/**
 * Deployment artifacts checked against each other and against a running server:
 * Dockerfile, docker-compose.yml + nginx.conf, deploy/k8s, the Grafana
 * dashboard and the artillery load test.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { io as ioClient, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { secretId } from '../../packages/server/src/auth/secrets.js';
import { makeCerts } from '../../packages/server/test/helpers/certs.js';
import { startServerProcess } from '../../packages/server/test/helpers/server-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const K8S = join(ROOT, 'deploy/k8s');
const read = (rel: string): string => readFileSync(join(ROOT, rel), 'utf8');
const rootPkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };

// ---------------------------------------------------------------- helpers ---

type Doc = Record<string, any>;

/** Every document of a YAML file; throws on any parse error or warning. */
function yamlDocs(rel: string): Doc[] {
  const docs = parseAllDocuments(read(rel), { merge: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) {
    if (d.errors.length > 0) throw new Error(`${rel}: ${d.errors.map((e) => e.message).join('; ')}`);
    if (d.warnings.length > 0) throw new Error(`${rel}: ${d.warnings.map((e) => e.message).join('; ')}`);
  }
  return list.map((d) => d.toJS({ maxAliasCount: 100 }) as Doc).filter((d) => d !== null && d !== undefined);
}
const yamlDoc = (rel: string): Doc => {
  const docs = yamlDocs(rel);
  expect(docs, rel).toHaveLength(1);
  return docs[0] as Doc;
};

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Dockerfile stages with their instructions (continuations joined, comments dropped, ARGs before FROM applied). */
function dockerStages(text: string): Stage[] {
  const lines = text.split('\n');
  const joined: string[] = [];
  let current = '';
  for (const raw of lines) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (current !== '' && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1).trim()} `;
      continue;
    }
    joined.push((current + line).trim());
    current = '';
  }
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const l of joined) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(l);
    if (!m) throw new Error(`unparsable Dockerfile line: ${l}`);
    const keyword = (m[1] as string).toUpperCase();
    const args = m[2] as string;
    if (keyword === 'ARG' && stages.length === 0) {
      const [k, v] = args.split('=');
      if (k !== undefined && v !== undefined) globalArgs[k.trim()] = v.trim();
      continue;
    }
    if (keyword === 'FROM') {
      const fm = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!fm) throw new Error(`unparsable FROM: ${args}`);
      const from = (fm[1] as string).replace(/\$\{?(\w+)\}?/g, (_, k: string) => globalArgs[k] ?? '');
      stages.push({ from, ...(fm[2] !== undefined && { name: fm[2] }), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${keyword} before FROM`);
    stage.instructions.push({ keyword, args });
  }
  return stages;
}

/** `.dockerignore` as a predicate (the subset of the syntax this repository uses: globs, `**`, no `!`). */
function dockerIgnored(patterns: string[]): (path: string) => boolean {
  const regexes = patterns.map((p) => {
    const src = p
      .replace(/^\/+|\/+$/g, '')
      .split('/')
      .map((seg) => (seg === '**' ? '(?:.*)' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
      .join('/')
      .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
    return new RegExp(`^${src}$`);
  });
  return (path: string) => {
    const parts = path.replace(/^\.\/|\/$/g, '').split('/');
    // A path is excluded when it or one of its parent directories matches.
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (regexes.some((r) => r.test(prefix))) return true;
    }
    return false;
  };
}

const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan', 'atan2']);

/** Metric names referenced by a PromQL expression (functions, keywords, labels, strings, ranges and Grafana variables removed). */
export function promqlMetricNames(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/'(?:[^'\\]|\\.)*'/g, "''")
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\S+/g, ' ');
  s = s.replace(/(?<![\w:])\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi, ' ');
  const names: string[] = [];
  const re = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const id = m[0];
    const rest = s.slice(m.index + id.length);
    if (/^\s*\(/.test(rest)) continue; // a function or aggregation
    if (PROMQL_KEYWORDS.has(id.toLowerCase())) continue;
    names.push(id);
  }
  return [...new Set(names)];
}

interface Exposition {
  types: Map<string, string>;
  samples: Set<string>;
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples = new Set<string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) types.set(t[1] as string, t[2] as string);
    else if (line && !line.startsWith('#')) samples.add((/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line) ?? [''])[0]);
  }
  return { types, samples };
}

/** True when `name` is exported: declared, sampled, or a histogram/summary series of a declared base name. */
function exported(expo: Exposition, name: string): boolean {
  if (expo.types.has(name) || expo.samples.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!m) return false;
  const type = expo.types.get(m[1] as string);
  return type === 'histogram' || (type === 'summary' && m[2] !== 'bucket');
}

/** Kubernetes quantity to bytes (memory) or cores (cpu). */
function quantity(q: string | number): number {
  const s = String(q);
  const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9, m: 1e-3 };
  const m = /^([\d.]+)([A-Za-z]*)$/.exec(s);
  if (!m) throw new Error(`bad quantity ${s}`);
  return Number(m[1]) * (m[2] ? (units[m[2] as string] ?? NaN) : 1);
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });

// --------------------------------------------------------------- fixtures ---

const SERVER_MAIN = join(ROOT, 'packages/server/dist/main.js');
const DEV_SECRET = 'ops-artifacts-test-secret-0123456789abcd'; // 40 characters
const PROD_SECRET = 'p'.repeat(64) + 'roduction-grade-test-secret';

interface Running {
  child: ChildProcess;
  url: string;
  port: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startServer(): Promise<Running> {
  if (!existsSync(SERVER_MAIN)) {
    // The root `npm test` and the vitest global setup build first; this covers a bare run.
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b'], { cwd: ROOT, stdio: 'inherit' });
  }
  const port = await freePort();
  const child = spawn(process.execPath, [SERVER_MAIN], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'development',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      JWT_SECRET: DEV_SECRET,
      REDIS_URL: '',
      REDIS_HOST: '',
      REDIS_CLUSTER_NODES: '',
      SHUTDOWN_TIMEOUT: '5000',
      RECONNECT_JITTER: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let dead = false;
  void exited.then(() => (dead = true));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (dead) throw new Error(`server exited before listening:\n${out}`);
    try {
      const res = await fetch(`${url}/health/live`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not answer /health/live within 30 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, url, port, output: () => out, exited };
}

let server: Running;
let exposition: Exposition;

beforeAll(async () => {
  server = await startServer();
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  exposition = parseExposition(await res.text());
}, 240_000);

afterAll(async () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill('SIGTERM');
    const t = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
    await server.exited;
    clearTimeout(t);
  }
});

// ------------------------------------------------------------------ files ---

describe('every deployment file parses', () => {
  const yamlFiles = [
    'docker-compose.yml',
    'tests/load-test.yml',
    ...readdirSync(K8S)
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => `deploy/k8s/${f}`),
  ];
  it.each(yamlFiles)('%s is valid YAML', (rel) => {
    expect(yamlDocs(rel).length).toBeGreaterThan(0);
  });
  it('deploy/grafana/dashboard.json is valid JSON', () => {
    expect(() => JSON.parse(read('deploy/grafana/dashboard.json'))).not.toThrow();
  });
  it('every Kubernetes object has apiVersion, kind and metadata.name', () => {
    for (const f of readdirSync(K8S).filter((n) => /\.ya?ml$/.test(n) && n !== 'kustomization.yaml')) {
      for (const d of yamlDocs(`deploy/k8s/${f}`)) {
        expect(d.apiVersion, f).toEqual(expect.any(String));
        expect(d.kind, f).toEqual(expect.any(String));
        expect(d.metadata?.name, f).toEqual(expect.any(String));
      }
    }
  });
});

// ------------------------------------------------------------- Dockerfile ---

describe('Dockerfile', () => {
  const stages = dockerStages(read('Dockerfile'));
  const runtime = stages.at(-1) as Stage;
  const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

  it('is multi-stage on node:20-bookworm-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from).toBe('node:20-bookworm-slim');
  });

  it('builds with npm ci and npm run build, and installs production dependencies only for the runtime', () => {
    const runs = stages.flatMap((s) => of(s, 'RUN').map((i) => i.args));
    expect(runs.some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    // The runtime stage takes node_modules from the production-only stage, not from the build.
    const depsStage = stages.find((s) => of(s, 'RUN').some((i) => /--omit=dev/.test(i.args)));
    const nm = of(runtime, 'COPY').find((i) => /node_modules/.test(i.args));
    expect(nm?.args).toContain(`--from=${depsStage?.name}`);
  });

  it('CMD is the exec form of the command `npm start` runs', () => {
    const cmd = of(runtime, 'CMD');
    expect(cmd).toHaveLength(1);
    const argv = JSON.parse((cmd[0] as Instruction).args) as string[];
    expect(argv.join(' ')).toBe(rootPkg.scripts.start);
    expect(rootPkg.scripts.start).toBe('node packages/server/dist/main.js');
  });

  it('runs as a non-root user and exposes 9001', () => {
    const user = of(runtime, 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(of(runtime, 'EXPOSE').map((i) => i.args)).toContain('9001');
  });

  it('HEALTHCHECK runs node (no curl) against /health/live', () => {
    const hc = of(runtime, 'HEALTHCHECK');
    expect(hc).toHaveLength(1);
    const args = (hc[0] as Instruction).args;
    const cmd = JSON.parse(args.slice(args.indexOf('CMD') + 3).trim()) as string[];
    expect(cmd[0]).toBe('node');
    expect(cmd.join(' ')).toContain('/health/live');
    expect(args).not.toMatch(/curl|wget/);
  });

  it('copies the dist of the server and of every workspace package it depends on', () => {
    const serverPkg = JSON.parse(read('packages/server/package.json')) as { dependencies: Record<string, string> };
    const workspaces = ['protocol', 'server', 'client'].map((w) => ({ dir: `packages/${w}`, name: (JSON.parse(read(`packages/${w}/package.json`)) as { name: string }).name }));
    const needed = ['packages/server', ...workspaces.filter((w) => w.name in serverPkg.dependencies).map((w) => w.dir)];
    const copies = of(runtime, 'COPY').map((i) => i.args);
    for (const dir of needed) {
      expect(copies.some((c) => c.includes(`${dir}/dist`)), dir).toBe(true);
      expect(copies.some((c) => c.includes(`${dir}/package.json`)), dir).toBe(true);
    }
  });

  it('every COPY source from the context exists and is not excluded by .dockerignore', () => {
    const ignored = dockerIgnored(
      read('.dockerignore')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#')),
    );
    for (const s of stages) {
      for (const c of of(s, 'COPY')) {
        if (/--from=/.test(c.args)) continue;
        const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        for (const src of parts.slice(0, -1)) {
          expect(existsSync(join(ROOT, src)), src).toBe(true);
          expect(ignored(src), `${src} is excluded by .dockerignore`).toBe(false);
        }
      }
    }
    // And the build context does not ship what must stay out of the image.
    for (const p of ['node_modules', 'packages/server/dist', '.git', '.env', 'packages/server/node_modules']) expect(ignored(p), p).toBe(true);
  });

  const healthcheck = (env: Record<string, string>) => {
    const hc = dockerStages(read('Dockerfile')).at(-1)!.instructions.find((i) => i.keyword === 'HEALTHCHECK')!.args;
    const cmd = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()) as string[];
    const { TLS_CERT_FILE: _tls, ...inherited } = process.env;
    return new Promise<number | null>((resolve) => {
      const p = spawn(process.execPath, cmd.slice(1), { env: { ...inherited, ...env }, stdio: 'ignore' });
      p.once('exit', (code) => resolve(code));
    });
  };

  it('the HEALTHCHECK command passes against a live server and fails against a closed port', async () => {
    expect(await healthcheck({ PORT: String(server.port) })).toBe(0);
    expect(await healthcheck({ PORT: String(await freePort()) })).toBe(1);
  });

  it('the HEALTHCHECK command probes over HTTPS when the server serves TLS itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'healthcheck-tls-'));
    const certs = makeCerts(dir);
    const tls = { TLS_CERT_FILE: certs.cert, TLS_KEY_FILE: certs.key };
    const https = await startServerProcess(tls, { ca: readFileSync(certs.ca, 'utf8') });
    try {
      expect(await healthcheck({ ...tls, PORT: String(https.port) })).toBe(0);
      // Plain HTTP to a TLS port, and HTTPS to a plain one, fail.
      expect(await healthcheck({ PORT: String(https.port) })).toBe(1);
      expect(await healthcheck({ ...tls, PORT: String(server.port) })).toBe(1);
    } finally {
      await https.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// -------------------------------------------------------- docker compose ---

describe('docker-compose.yml and nginx.conf', () => {
  const compose = yamlDoc('docker-compose.yml');
  const services = compose.services as Record<string, Doc>;
  const servers = Object.entries(services).filter(([, s]) => s.build !== undefined);
  const nginxConf = read('deploy/nginx/nginx.conf');

  it('runs redis:7 with AOF persistence on a named volume and no eviction', () => {
    const redis = services.redis as Doc;
    expect(redis.image).toMatch(/^redis:7(\b|$)/);
    const cmd = (Array.isArray(redis.command) ? redis.command : String(redis.command).split(/\s+/)).map(String);
    const opt = (name: string) => cmd[cmd.indexOf(name) + 1];
    expect(opt('--appendonly')).toBe('yes');
    expect(opt('--appendfsync')).toBe('everysec');
    expect(opt('--maxmemory-policy')).toBe('noeviction');
    const vol = (redis.volumes as string[]).find((v) => v.endsWith(':/data'));
    expect(vol).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain((vol as string).split(':')[0]);
  });

  it('runs at least two server replicas built from the Dockerfile, each with REDIS_URL on the redis service', () => {
    expect(servers.length).toBeGreaterThanOrEqual(2);
    for (const [name, s] of servers) {
      const build = typeof s.build === 'string' ? { context: s.build } : s.build;
      expect(build.context, name).toBe('.');
      expect(build.dockerfile ?? 'Dockerfile', name).toBe('Dockerfile');
      expect(new URL(s.environment.REDIS_URL).hostname, name).toBe('redis');
      expect(s.depends_on?.redis, name).toBeDefined();
    }
    expect(new Set(servers.map(([, s]) => s.environment.SERVER_ID)).size).toBe(servers.length);
  });

  it('gives the servers more stop time than SHUTDOWN_TIMEOUT', () => {
    for (const [name, s] of servers) {
      const grace = /^(\d+)s$/.exec(String(s.stop_grace_period));
      expect(grace, name).not.toBeNull();
      expect(Number(grace![1]) * 1000, name).toBeGreaterThan(Number(s.environment.SHUTDOWN_TIMEOUT));
    }
  });

  it('each server environment is a valid production configuration', async () => {
    const { loadConfig } = (await import(pathToFileURL(join(ROOT, 'packages/server/dist/config.js')).href)) as typeof import('../../packages/server/src/config.js');
    const substitute = (v: unknown) =>
      String(v)
        .replace(/\$\{(\w+):\?[^}]*\}/g, (_, k: string) => (k === 'JWT_SECRET' ? PROD_SECRET : `test-${k.toLowerCase()}-value`))
        .replace(/\$\{(\w+):-([^}]*)\}/g, (_, _k: string, def: string) => def);
    for (const [name, s] of servers) {
      const env = Object.fromEntries(Object.entries(s.environment as Record<string, unknown>).map(([k, v]) => [k, substitute(v)]));
      expect(env.NODE_ENV, name).toBe('production');
      expect(() => loadConfig(env), name).not.toThrow();
    }
  });

  it('nginx publishes 9001 and balances over exactly the server services on 9001', () => {
    const nginx = Object.values(services).find((s) => String(s.image).startsWith('nginx')) as Doc;
    expect(nginx).toBeDefined();
    expect(nginx.ports).toContain('9001:9001');
    expect((nginx.volumes as string[]).some((v) => v.startsWith('./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf'))).toBe(true);
    const upstream = /upstream\s+(\w+)\s*\{([^}]*)\}/.exec(nginxConf);
    expect(upstream).not.toBeNull();
    const targets = [...(upstream![2] as string).matchAll(/^\s*server\s+(\S+)/gm)].map((m) => m[1]);
    expect(targets.sort()).toEqual(servers.map(([name]) => `${name}:9001`).sort());
    expect(nginxConf).toMatch(new RegExp(`proxy_pass\\s+http://${upstream![1]}\\b`));
    expect(nginxConf).toMatch(/listen\s+9001\b/);
  });

  it('nginx keeps sessions sticky and upgrades WebSockets on /socket.io/', () => {
    expect(nginxConf).toMatch(/^\s*(ip_hash;|hash\s+\$cookie_\w+)/m);
    const loc = /location\s+\/socket\.io\/\s*\{([^}]*)\}/.exec(nginxConf);
    expect(loc).not.toBeNull();
    expect(nginxConf).toMatch(/proxy_http_version\s+1\.1;/);
    expect(loc![1]).toMatch(/proxy_set_header\s+Upgrade\s+\$http_upgrade;/);
    expect(loc![1]).toMatch(/proxy_set_header\s+Connection\s+\$connection_upgrade;/);
    expect(nginxConf).toMatch(/map\s+\$http_upgrade\s+\$connection_upgrade/);
  });

  it('nginx overwrites X-Forwarded-For, since the servers trust its first hop', () => {
    expect(servers.every(([, s]) => String(s.environment.TRUST_PROXY) === 'true')).toBe(true);
    expect(nginxConf).toMatch(/proxy_set_header\s+X-Forwarded-For\s+\$remote_addr;/);
    expect(nginxConf).not.toMatch(/\$proxy_add_x_forwarded_for/);
  });
});

// ------------------------------------------------------------- Kubernetes ---

describe('deploy/k8s', () => {
  const kustomization = yamlDoc('deploy/k8s/kustomization.yaml');
  const objects = (kustomization.resources as string[]).flatMap((f) => yamlDocs(`deploy/k8s/${f}`));
  const find = (kind: string) => {
    const found = objects.filter((o) => o.kind === kind);
    expect(found, kind).toHaveLength(1);
    return found[0] as Doc;
  };
  const deployment = find('Deployment');
  const pod = deployment.spec.template.spec as Doc;
  const container = pod.containers[0] as Doc;
  const env = (name: string) => (container.env as Doc[]).find((e) => e.name === name);
  const configMap = find('ConfigMap');
  const secret = yamlDoc('deploy/k8s/secret.example.yaml');
  const hpa = find('HorizontalPodAutoscaler');
  const preStopSeconds = (): number => {
    const ps = container.lifecycle?.preStop as Doc;
    if (ps?.sleep) return Number(ps.sleep.seconds);
    const cmd = (ps?.exec?.command ?? []) as string[];
    const m = /sleep\s+(\d+)/.exec(cmd.join(' '));
    return m ? Number(m[1]) : 0;
  };

  it('kustomization lists every manifest except the example Secret', () => {
    const files = readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    expect([...(kustomization.resources as string[])].sort()).toEqual(files.filter((f) => f !== 'secret.example.yaml').sort());
    for (const kind of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress', 'ConfigMap']) find(kind);
  });

  it('container port 9001 is named and probes use the server routes', () => {
    const port = (container.ports as Doc[]).find((p) => p.containerPort === 9001);
    expect(port?.name).toBe('http');
    expect(container.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
    if (container.startupProbe) expect(container.startupProbe.httpGet.path).toBe('/health/live');
    expect(String(configMap.data.PORT ?? env('PORT')?.value)).toBe('9001');
  });

  it('the probe routes answer 200 on a running server', async () => {
    for (const path of [container.readinessProbe.httpGet.path, container.livenessProbe.httpGet.path]) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(200);
    }
  });

  it('terminationGracePeriodSeconds covers the preStop sleep plus SHUTDOWN_TIMEOUT', () => {
    const shutdownMs = Number(env('SHUTDOWN_TIMEOUT')?.value ?? configMap.data.SHUTDOWN_TIMEOUT);
    expect(shutdownMs).toBeGreaterThan(0);
    const grace = Number(pod.terminationGracePeriodSeconds);
    expect(grace * 1000).toBeGreaterThan(shutdownMs);
    expect(preStopSeconds()).toBeGreaterThan(0);
    expect((grace - preStopSeconds()) * 1000).toBeGreaterThan(shutdownMs);
  });

  it('secrets come from the Secret through secretKeyRef and match the example keys', () => {
    const refs = (container.env as Doc[]).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.valueFrom.secretKeyRef as Doc);
    const names = refs.map((r) => r.key);
    for (const k of ['JWT_SECRET', 'STATS_TOKEN', 'API_KEY']) expect(names).toContain(k);
    for (const r of refs) {
      expect(r.name).toBe(secret.metadata.name);
      expect(Object.keys(secret.stringData ?? secret.data)).toContain(r.key);
    }
    // No secret in the ConfigMap or as a literal value.
    for (const k of ['JWT_SECRET', 'STATS_TOKEN', 'API_KEY', 'REDIS_PASSWORD']) {
      expect(configMap.data[k], k).toBeUndefined();
      expect(env(k)?.value, k).toBeUndefined();
    }
    expect((container.envFrom as Doc[]).map((e) => e.configMapRef?.name)).toContain(configMap.metadata.name);
  });

  it('ConfigMap + Deployment env + Secret form a valid production configuration', async () => {
    const { loadConfig } = (await import(pathToFileURL(join(ROOT, 'packages/server/dist/config.js')).href)) as typeof import('../../packages/server/src/config.js');
    const literal = Object.fromEntries((container.env as Doc[]).filter((e) => typeof e.value === 'string').map((e) => [e.name, e.value as string]));
    const all = { ...configMap.data, ...literal, SERVER_ID: 'websocket-server-abc', JWT_SECRET: PROD_SECRET, STATS_TOKEN: 'stats-token', API_KEY: 'api-key' };
    expect(all.NODE_ENV).toBe('production');
    const cfg = loadConfig(all);
    expect(cfg.port).toBe(9001);
    expect(cfg.shutdownTimeoutMs).toBe(Number(literal.SHUTDOWN_TIMEOUT));
    // The example Secret's placeholder is refused, so applying it by mistake fails loudly.
    expect(() => loadConfig({ ...all, JWT_SECRET: secret.stringData.JWT_SECRET })).toThrow(/JWT_SECRET/);
  });

  it('runs non-root on a read-only root filesystem without privileges', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(container.securityContext.capabilities.drop).toContain('ALL');
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('memory request fits the HPA connection target at 60 MB + 14 KB per connection, under the limit and above the V8 heap cap', () => {
    const target = Number(hpa.spec.metrics.find((m: Doc) => m.type === 'Pods').pods.target.averageValue);
    const need = 60 * 2 ** 20 + target * 14 * 2 ** 10;
    const request = quantity(container.resources.requests.memory);
    const limit = quantity(container.resources.limits.memory);
    expect(request).toBeGreaterThanOrEqual(need);
    expect(limit).toBeGreaterThan(request);
    expect(quantity(container.resources.requests.cpu)).toBeGreaterThan(0);
    const heap = /--max-old-space-size=(\d+)/.exec(String(env('NODE_OPTIONS')?.value));
    expect(heap).not.toBeNull();
    expect(Number(heap![1]) * 2 ** 20).toBeLessThan(limit);
  });

  it('Service, PDB and HPA point at the Deployment and its named port', () => {
    const labels = deployment.spec.template.metadata.labels as Record<string, string>;
    const matches = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    expect(matches(deployment.spec.selector.matchLabels)).toBe(true);
    const svc = find('Service');
    expect(matches(svc.spec.selector)).toBe(true);
    expect(svc.spec.ports[0].port).toBe(9001);
    expect(svc.spec.ports[0].targetPort).toBe('http');
    const pdb = find('PodDisruptionBudget');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(matches(pdb.spec.selector.matchLabels)).toBe(true);
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(deployment.spec.replicas).toBeUndefined();
  });

  it('HPA scales 3-20 on CPU 70% and on websocket_active_connections averaging 5000 per pod', () => {
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.minReplicas).toBe(3);
    expect(hpa.spec.maxReplicas).toBe(20);
    const cpu = hpa.spec.metrics.find((m: Doc) => m.type === 'Resource');
    expect(cpu.resource).toEqual({ name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } });
    const pods = hpa.spec.metrics.find((m: Doc) => m.type === 'Pods');
    expect(pods.pods.metric.name).toBe('websocket_active_connections');
    expect(pods.pods.target).toEqual({ type: 'AverageValue', averageValue: '5000' });
  });

  it('the HPA metric exists in the running server\'s /metrics', () => {
    for (const m of hpa.spec.metrics.filter((x: Doc) => x.type === 'Pods')) expect(exported(exposition, m.pods.metric.name), m.pods.metric.name).toBe(true);
  });

  it('Ingress routes /socket.io to the Service with cookie affinity and long WebSocket timeouts', () => {
    const ing = find('Ingress');
    const a = ing.metadata.annotations as Record<string, string>;
    expect(a['nginx.ingress.kubernetes.io/affinity']).toBe('cookie');
    expect(a['nginx.ingress.kubernetes.io/session-cookie-name']).toBeTruthy();
    expect(Number(a['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(3600);
    expect(Number(a['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThanOrEqual(3600);
    const paths = ing.spec.rules.flatMap((r: Doc) => r.http.paths) as Doc[];
    expect(paths.map((p) => p.path)).toContain('/socket.io');
    const svc = find('Service');
    for (const p of paths) {
      expect(p.backend.service.name).toBe(svc.metadata.name);
      expect(svc.spec.ports.map((x: Doc) => x.name)).toContain(p.backend.service.port.name);
    }
    // Metrics and statistics are not exposed publicly.
    expect(paths.some((p) => ['/', '/metrics', '/stats'].includes(p.path))).toBe(false);
  });
});

// ---------------------------------------------------------------- Grafana ---

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(read('deploy/grafana/dashboard.json')) as Doc;
  const panels = (dashboard.panels as Doc[]).flatMap((p) => [p, ...((p.panels as Doc[]) ?? [])]);
  const exprs = panels.flatMap((p) => ((p.targets as Doc[]) ?? []).map((t) => ({ panel: p.title as string, expr: t.expr as string })));
  const variableQueries = (dashboard.templating.list as Doc[]).filter((v) => v.type === 'query').map((v) => (typeof v.query === 'string' ? v.query : v.query.query) as string);

  it('extracts metric names from PromQL', () => {
    expect(
      promqlMetricNames('histogram_quantile(0.99, sum by (le, event) (rate(a_ms_bucket{instance=~"$instance", x="y{z}"}[$__rate_interval]))) / on(job) group_left b_total offset 5m'),
    ).toEqual(['a_ms_bucket', 'b_total']);
    expect(promqlMetricNames('sum(rate(x_total[5m])) * 1e3 > bool 0')).toEqual(['x_total']);
  });

  it('has unique panel ids and a layout within 24 columns', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    expect(dashboard.uid).toBeTruthy();
    expect(dashboard.title).toBeTruthy();
  });

  it('every expression names at least one metric, and every metric exists in the running server\'s /metrics', () => {
    expect(exprs.length).toBeGreaterThan(10);
    const missing: string[] = [];
    for (const { panel, expr } of exprs) {
      const names = promqlMetricNames(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const n of names) if (!exported(exposition, n)) missing.push(`${n} (${panel})`);
    }
    for (const q of variableQueries) {
      const m = /label_values\(\s*([a-zA-Z_:][\w:]*)/.exec(q);
      if (m && !exported(exposition, m[1] as string)) missing.push(`${m[1]} (variable)`);
    }
    expect(missing).toEqual([]);
  });

  it('covers connections, messages, latency, errors, Redis, event loop, rooms, rate limits, presence and history', () => {
    const used = new Set(exprs.flatMap(({ expr }) => promqlMetricNames(expr)));
    for (const m of [
      'websocket_active_connections',
      'websocket_messages_sent_total',
      'websocket_messages_received_total',
      'websocket_message_latency_ms_bucket',
      'websocket_errors_total',
      'websocket_redis_latency_ms_bucket',
      'websocket_event_loop_lag_ms',
      'websocket_active_rooms',
      'websocket_room_subscriptions',
      'websocket_rate_limited_total',
      'websocket_presence_entries',
      'websocket_history_recoveries_total',
    ]) {
      expect(used.has(m), m).toBe(true);
    }
    expect(exprs.some(({ expr }) => /histogram_quantile\([^,]+,.*websocket_message_latency_ms_bucket/.test(expr))).toBe(true);
    expect(exprs.some(({ expr }) => /histogram_quantile\([^,]+,.*websocket_redis_latency_ms_bucket/.test(expr))).toBe(true);
    expect(exprs.some(({ expr }) => /sum by \(tenant\)\s*\(websocket_active_connections/.test(expr))).toBe(true);
  });
});

// -------------------------------------------------------------- load test ---

describe('artillery load test', () => {
  const script = yamlDoc('tests/load-test.yml');
  const require = createRequire(import.meta.url);
  const processorPath = join(ROOT, 'tests', script.config.processor as string);
  const processor = require(processorPath) as {
    mintToken: (secret?: string) => string;
    mintTokens: (ctx: { vars: Record<string, unknown> }, ee: unknown, done: (err?: unknown) => void) => void;
  };
  const scenario = (script.scenarios as Doc[])[0] as Doc;
  const steps = (flow: Doc[]): Doc[] => flow.flatMap((s) => (s.loop ? steps(s.loop as Doc[]) : [s]));
  const emits = steps(scenario.flow as Doc[]).filter((s) => s.emit);

  it('documents the command, uses the Socket.IO engine and authenticates through socketio.auth', () => {
    expect(read('tests/load-test.yml')).toMatch(/^#.*JWT_SECRET=.* npx -y artillery@2 run tests\/load-test\.yml/m);
    expect(scenario.engine).toBe('socketio');
    expect(script.config.socketio.path).toBe('/socket.io');
    // Per virtual user: artillery templates `config` once at start, before the
    // `before` hook's tokens exist, so the auth option lives on the scenario.
    expect(String(scenario.socketio.auth.token)).toMatch(/tokens\[/);
    expect(script.config.socketio.auth).toBeUndefined();
    expect(new URL(script.config.target).hostname).toBe('127.0.0.1');
    expect(existsSync(processorPath)).toBe(true);
    expect(script.before.flow.some((s: Doc) => s.function === 'mintTokens')).toBe(true);
  });

  it('joins, sends and leaves with acknowledgements checked', () => {
    expect(emits.map((e) => e.emit.channel)).toEqual(['room:join', 'room:send', 'room:leave']);
    for (const e of emits) expect(e.acknowledge?.match).toEqual({ json: '$.0.success', value: true });
    expect(emits[1]?.emit.data).toEqual({ room: '{{ room }}', payload: '{{ payload }}' });
  });

  it('the token pool covers the index range the scenario picks from', () => {
    const ctx = { vars: {} as Record<string, unknown> };
    const prev = process.env.JWT_SECRET;
    process.env.JWT_SECRET = DEV_SECRET;
    try {
      processor.mintTokens(ctx, null, (err) => expect(err).toBeUndefined());
    } finally {
      if (prev === undefined) delete process.env.JWT_SECRET;
      else process.env.JWT_SECRET = prev;
    }
    const m = /\$randomNumber\(\s*(\d+)\s*,\s*(\d+)\s*\)/.exec(String(scenario.socketio.auth.token));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(0);
    expect((ctx.vars.tokens as string[]).length).toBe(Number(m![2]) + 1);
  });

  it('a processor token is an HS256 JWT with a random sub, tenant loadtest, a one-hour expiry and the kid of JWT_SECRET', () => {
    const a = processor.mintToken(DEV_SECRET);
    const b = processor.mintToken(DEV_SECRET);
    const [h, p] = a.split('.').slice(0, 2).map((s) => JSON.parse(Buffer.from(s, 'base64url').toString() || 'null'));
    expect(h).toEqual({ alg: 'HS256', typ: 'JWT', kid: secretId(DEV_SECRET) });
    const named = processor.mintToken(`lt-1:${DEV_SECRET}`);
    expect(JSON.parse(Buffer.from(named.split('.')[0] as string, 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT', kid: 'lt-1' });
    // Signed with the secret, not with the whole `id:secret` text.
    const [nh, np, ns] = named.split('.');
    expect(ns).toBe(createHmac('sha256', DEV_SECRET).update(`${nh}.${np}`).digest('base64url'));
    expect(p.tenantId).toBe('loadtest');
    expect(p.exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(3500);
    expect(p.exp - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(3600);
    expect(JSON.parse(Buffer.from(b.split('.')[1] as string, 'base64url').toString()).sub).not.toBe(p.sub);
  });

  it('the scenario\'s flow works against the running server with a processor token', async () => {
    const socket: Socket = ioClient(server.url, {
      path: script.config.socketio.path,
      transports: script.config.socketio.transports,
      auth: { token: processor.mintToken(DEV_SECRET) },
      reconnection: false,
      forceNew: true,
      timeout: 5000,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      const room = 'loadtest-room-1';
      const ack = (event: string, data: unknown) => socket.timeout(5000).emitWithAck(event, data) as Promise<Doc>;
      expect(await ack('room:join', { room })).toMatchObject({ success: true });
      const sent = await ack('room:send', { room, payload: { type: 'loadtest', seq: 1 } });
      expect(sent).toMatchObject({ success: true, messageId: expect.any(String) });
      expect(await ack('room:leave', { room })).toMatchObject({ success: true });
    } finally {
      socket.disconnect();
    }
  });
});

// ------------------------------------------------------- graceful shutdown ---

describe('process signals', () => {
  it('the server started by the image command exits cleanly on SIGTERM within SHUTDOWN_TIMEOUT', async () => {
    const started = Date.now();
    server.child.kill('SIGTERM');
    const result = await server.exited;
    expect(result, server.output()).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(5000 + 2000);
  });
});
