import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@edge-fleet/control-plane/trpc';

/**
 * Every shape the dashboard shows or sends, inferred from the control plane's router (whose schemas
 * live in `@edge-fleet/shared/api`): nothing here is written by hand, so a change on the server is a
 * compile error here rather than a blank cell at run time. Types only: safe to import from pure helpers.
 */
type Outputs = inferRouterOutputs<AppRouter>;
type Inputs = inferRouterInputs<AppRouter>;

export type FleetOverview = Outputs['fleet']['overview'];
export type ScenarioOverview = FleetOverview['scenarios'][number];
export type DeviceListInput = Inputs['devices']['list'];
export type DevicePage = Outputs['devices']['list'];
export type DeviceListItem = DevicePage['items'][number];
export type DeviceDetail = Outputs['devices']['get'];
export type TelemetryPoint = Outputs['devices']['telemetry']['points'][number];
export type ModelVersion = Outputs['models']['list']['items'][number];
export type ModelVariant = ModelVersion['variants'][number];
export type Policy = Outputs['policies']['list']['items'][number];
export type PolicyUpdateInput = Inputs['policies']['update'];
export type RolloutCreateInput = Inputs['rollouts']['create'];
export type RolloutSummary = Outputs['rollouts']['list']['items'][number];
export type RolloutView = Outputs['rollouts']['get'];
export type RolloutWave = RolloutView['waves'][number];
export type RolloutGate = NonNullable<RolloutWave['gate']>;
export type RolloutGateOutcome = RolloutGate['gates'][number];
export type RolloutDeviceState = RolloutView['deviceStates'][number];
export type AlertList = Outputs['alerts']['list'];
export type AlertItem = AlertList['items'][number];
export type Silence = Outputs['alerts']['silences']['items'][number];
export type AlertRule = Outputs['alerts']['rules']['items'][number];
export type EnergyReport = Outputs['energy']['report'];
export type ScenarioEnergy = EnergyReport['scenarios'][number];
export type VariantEnergy = ScenarioEnergy['variants'][number];
export type EnergyFigures = VariantEnergy['observed'];
export type DeviceEnergy = Outputs['energy']['device'];
export type RemediationActionList = Outputs['remediation']['actions'];
export type RemediationAction = RemediationActionList['items'][number];
export type RemediationSettings = Outputs['remediation']['settings']['items'][number];
export type DeviceRemediation = Outputs['remediation']['device'];
export type RemediationOverride = RemediationAction['before'];
export type ApiTokenCreateInput = Inputs['tokens']['create'];
export type ApiToken = Outputs['tokens']['list']['items'][number];
export type ApiTokenSecret = Outputs['tokens']['create'];
export type AuditListInput = Inputs['audit']['list'];
export type AuditPage = Outputs['audit']['list'];
export type AuditEvent = AuditPage['items'][number];
export type AuditVerification = Outputs['audit']['verify'];
export type WhoAmI = Outputs['session']['me'];
