/** Types of the bench's entry point, for the TypeScript smoke test. */
export declare const SCENARIOS: readonly string[];

export interface LatencySummary {
  samples: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

/** What held a server's event loop up during a step (from its probe). */
export interface Pauses {
  gcCount: number;
  gcTotalMs: number;
  gcMaxMs: number;
  loopStallP99Ms: number | null;
  loopStallMaxMs: number | null;
}

export interface StepCpu {
  name: string;
  cpuMicros: number;
  cpuPercent: number;
  /** Kernel share of cpuMicros (server processes only). */
  systemShare?: number | null;
  /** Server processes only (not redis-server). */
  pauses?: Pauses;
}

export interface Step {
  sent: number;
  acked: number;
  ackErrors: number;
  received: number;
  deliveriesPerSec: number;
  deliveredFraction?: number | null;
  latency: LatencySummary;
  /** Each receiving fleet's own latency, when a step has several (the subscribers of each instance). */
  latencyByReceiver?: LatencySummary[];
  cpuMicrosPerDelivery: number | null;
  cpu: StepCpu[];
  /** How evenly the senders kept their pace. */
  senderPace: { bunched: number; maxPerTick: number; maxTickGapMs: number };
  errors: number;
  errorSamples: string[];
}

export interface Climb {
  steps: Step[];
  best: Step | null;
}

export interface IdleLevel {
  target: number;
  connected: number;
  heapPerConnBytes: number | null;
  rssPerConnBytes: number | null;
}

export interface IdleCluster {
  instances: number;
  target: number;
  connected: number;
  connectsPerSec: number | null;
  heapPerConnBytes: number | null;
  rssPerConnBytes: number | null;
  errors: number;
}

/** One side of the handshake scenario (median of its rounds). */
export interface ConnectSide {
  connectsPerSec: number | null;
  serverCpuMicrosPerConnect: number | null;
  redisCpuMicrosPerConnect: number | null;
  errors: number;
  connected: number;
  target: number;
}

/** One run of the storm scenario. */
export interface StormRun {
  spread: boolean;
  clients: number;
  moved: number;
  stayed: number;
  recoveredAll: boolean;
  timeToAllRecoveredMs: number | null;
  reconnectsPerSecOnC: number;
  peakReconnectsPerSecOnC: number;
  errorsByCode: Record<string, number>;
  published: { sent: number; acked: number; refused: number };
  lost: number;
  duplicates: number;
  stableLatency: { before: LatencySummary; storm: LatencySummary };
}

export interface Results {
  fanout?: {
    file: string;
    ours: { steps: Step[]; connected: number };
    floor: { steps: Step[]; connected: number };
    bare: { steps: Step[]; connected: number };
    /** Our server with other TRANSPORT_TUNING values, by value. */
    variants: Record<string, { steps: Step[]; connected: number }>;
  };
  idle?: {
    file: string;
    ours: { levels: IdleLevel[]; errors: number };
    floor: { levels: IdleLevel[]; errors: number };
    bare: { levels: IdleLevel[]; errors: number };
    variants: Record<string, { levels: IdleLevel[]; errors: number }>;
    cluster?: { redisError?: string; ours?: IdleCluster; bare?: IdleCluster };
  };
  connect?: {
    file: string;
    single: { ours: ConnectSide; bare: ConnectSide };
    cluster: { ours: ConnectSide; bare: ConnectSide } | { redisError: string };
  };
  storm?: { file: string; withSpread: StormRun; without: StormRun } | { redisError: string };
  chat?: { file: string; ours: { volatile: Climb; persistent: Climb }; bare: { volatile: Climb } };
  cluster?: {
    file: string;
    redisError?: string;
    ours?: { refused?: string; fanout?: Step[]; spreadFanout?: Step[]; persistentChat?: Climb };
    bare?: { refused?: string; fanout?: Step[]; spreadFanout?: Step[]; persistentChat?: Climb };
  };
}

export declare function runScenarios(
  names: readonly string[],
  opts?: { smoke?: boolean; cpuProfDir?: string; tuning?: string; variants?: readonly string[] },
): Promise<Results>;
