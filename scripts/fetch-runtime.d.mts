// Types of scripts/fetch-runtime.mjs for the TypeScript tests and the bench.
export interface ManifestDependency { name: string; version: string; uri: string; sha256: string; file?: string; file_sha256?: string }
export interface Manifest { language: string; dependencies: ManifestDependency[]; include_files: string[]; pre_package: string; [key: string]: unknown }
export const ROOT: string;
export function readManifest(file?: string): Promise<Manifest>;
export function sha256(file: string): Promise<string>;
export function dependencyPath(dep: ManifestDependency): string;
export function fetchDependency(dep: ManifestDependency, log?: (message: string) => void): Promise<string>;
