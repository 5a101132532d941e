/** Types of scripts/test-prereqs.mjs (plain JavaScript so that it runs before any TypeScript tooling). */
export declare const CHROMIUM_NAMES: readonly string[]
export declare function which(name: string, PATH?: string): string | undefined
export declare function findChromium(env?: NodeJS.ProcessEnv): { path: string; error?: undefined } | { path?: undefined; error: string }
export declare function missing(suite: 'fast' | 'ops', env?: NodeJS.ProcessEnv): Promise<string[]>
