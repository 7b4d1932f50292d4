export declare const outfile: string;
export declare function buildBrowser(options?: { minify?: boolean }): Promise<{ outfile: string; bytes: number; inputs: string[] }>;
