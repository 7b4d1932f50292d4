/** Types of what the TypeScript tests use of the bench's server helpers. */
export declare function tuningValue(spec: string): string;
