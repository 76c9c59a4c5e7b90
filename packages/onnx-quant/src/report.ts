/** The build result as plain JSON (no model bytes), for the CLI and job results. */
import type { VariantBuild, VariantReport } from './build-variants.js';

/** A variant report without its bytes, plus the file it was written to (CLI). */
export type JsonVariant = Omit<VariantReport, 'bytes'> & { file?: string };

/** What the CLI prints. */
export type JsonReport = Omit<VariantBuild, 'variants'> & { variants: JsonVariant[] };

/** Drops the bytes; `files` maps a method to the path its model was written to. */
export function toJsonReport(build: VariantBuild, files: Readonly<Record<string, string>> = {}): JsonReport {
  return {
    ...build,
    variants: build.variants.map(({ bytes: _bytes, ...rest }) => {
      const file = files[rest.method];
      return file === undefined ? rest : { ...rest, file };
    }),
  };
}
