/** A `data:` URL for a YAML document, for an `<a download>` link (no Blob URL to revoke afterwards). */
export function yamlDataUrl(yaml: string): string {
  return `data:application/yaml;charset=utf-8,${encodeURIComponent(yaml)}`;
}

/** "edge-fleet-policies-2026-01-31.yaml": dated, so successive exports do not overwrite each other. */
export function policyExportFileName(at: Date): string {
  return `edge-fleet-policies-${at.toISOString().slice(0, 10)}.yaml`;
}
