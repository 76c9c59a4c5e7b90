import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EnrollResponseSchema, HardwareProfileSchema } from '@edge-fleet/shared';
import { z } from 'zod';

export const SimDeviceCredentialsSchema = z.strictObject({
  index: z.int().min(0),
  deviceId: EnrollResponseSchema.shape.deviceId,
  deviceSecret: EnrollResponseSchema.shape.deviceSecret,
  scenario: EnrollResponseSchema.shape.scenario,
  preset: z.string().min(1),
  hardwareProfile: HardwareProfileSchema,
});
export type SimDeviceCredentials = z.infer<typeof SimDeviceCredentialsSchema>;

/** Everything a second run needs to bring the same fleet back without enrolling again. */
export const CredentialsFileSchema = z.strictObject({
  schema: z.literal(1),
  controlPlaneUrl: z.url(),
  mqttUrl: z.string().min(1),
  devices: z.array(SimDeviceCredentialsSchema),
});
export type CredentialsFile = z.infer<typeof CredentialsFileSchema>;

export async function loadCredentialsFile(file: string): Promise<CredentialsFile | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`credentials file ${file} is not valid JSON; delete it to enroll a new fleet`);
  }
  const parsed = CredentialsFileSchema.safeParse(json);
  if (!parsed.success)
    throw new Error(`credentials file ${file} is not a fleet-sim credentials file: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

/** Written atomically with mode 0600: it holds device secrets. */
export async function saveCredentialsFile(file: string, data: CredentialsFile): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(CredentialsFileSchema.parse(data)), { mode: 0o600 });
  await rename(tmp, file);
}
