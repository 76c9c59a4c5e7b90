import { initTRPC, TRPCError } from '@trpc/server';
import { CreateRolloutSchema } from '@edge-fleet/shared';
import {
  AlertIdParamsSchema,
  AlertListQuerySchema,
  AlertListSchema,
  AlertRuleListSchema,
  AlertRuleUpdateInputSchema,
  AssignmentPreviewInputSchema,
  CreateSilenceSchema,
  SilenceListSchema,
  DeviceIdParamsSchema,
  DeviceSecretSchema,
  DeviceTelemetryInputSchema,
  DeviceTelemetrySchema,
  DeviceEnergyInputSchema,
  DeviceEnergySchema,
  EnergyQuerySchema,
  EnergyReportSchema,
  ListDevicesQuerySchema,
  PolicyImportResultSchema,
  PolicyListSchema,
  PolicyUpdateInputSchema,
  PolicyViewSchema,
  PolicyYamlExportSchema,
  PolicyYamlImportInputSchema,
  RemediationActionListSchema,
  RemediationActionViewSchema,
  RemediationDecisionInputSchema,
  RemediationIdParamsSchema,
  RemediationListQuerySchema,
  RemediationSettingsListSchema,
  RemediationSettingsUpdateInputSchema,
  RemediationSettingsViewSchema,
  DeviceRemediationSchema,
  RolloutActionParamsSchema,
  RolloutIdParamsSchema,
  ApiTokenIdParamsSchema,
  ApiTokenListSchema,
  ApiTokenSecretSchema,
  ApiTokenViewSchema,
  AuditPageSchema,
  AuditQuerySchema,
  AuditVerificationSchema,
  CreateApiTokenSchema,
  ParkedWindowsSchema,
  RequeueParkedSchema,
  RequeuedParkedSchema,
  WhoAmISchema,
} from '@edge-fleet/shared/api';
import type { AlertsService } from '../alerts/alerts.service.js';
import type { AssignmentsService } from '../assignments/assignments.service.js';
import type { DeviceRevocationService } from '../devices/device-revocation.service.js';
import type { DeviceSecretService } from '../devices/device-secret.service.js';
import type { Operator } from '../auth/api-token.repository.js';
import type { ApiTokensService } from '../auth/api-tokens.service.js';
import { actorOf as actor, type OperatorAuthService } from '../auth/operator-auth.service.js';
import { forbiddenMessage, hasRole, type Role } from '../auth/roles.js';
import {
  isScoped,
  pick,
  requireDeviceScope,
  refuseFleetWide,
  requireScope,
  scopeOf,
  TRPC_DEVICE_SUBJECT,
  TRPC_FLEET_WIDE_READ,
  TRPC_SCENARIO_SUBJECT,
  type DevicePlace,
} from '../auth/scope.js';
import type { AuditService } from '../audit/audit.service.js';
import { AppError } from '../errors.js';
import type { EnergyService } from '../energy/energy.service.js';
import type { RemediationService } from '../remediation/remediation.service.js';
import type { FleetService } from '../fleet/fleet.service.js';
import type { ModelsService } from '../models/models.service.js';
import type { PoliciesService } from '../policies/policies.service.js';
import type { PolicyDocumentService } from '../policy-document/policy-document.service.js';
import type { RolloutsService } from '../rollouts/rollouts.service.js';
import type { TelemetryRollupFoldService } from '../telemetry/telemetry-rollup-fold.service.js';
import type { TelemetryQueries } from '../telemetry/telemetry.queries.js';

export interface TrpcContext {
  operator: Operator | null;
  /** Why the credential could not be checked (the database away): 503, not "a token is required". */
  unavailable: AppError | null;
  /** The 503 an error from the database gets (and the breaker opened when it is away); null: not such an error. */
  databaseTrouble: (e: unknown) => AppError | null;
  /** Audits a refusal for role or scope (OperatorAuthService.denied). */
  denied: (op: Operator, what: string, reason: string) => Promise<void>;
  /** Where a device sits, for a scoped token's check (OperatorAuthService.devicePlace). */
  devicePlace: (id: string) => Promise<DevicePlace | null>;
}

const TRPC_CODE = {
  invalid_request: 'BAD_REQUEST',
  invalid_model: 'UNPROCESSABLE_CONTENT',
  unauthorized: 'UNAUTHORIZED',
  forbidden: 'FORBIDDEN',
  not_found: 'NOT_FOUND',
  conflict: 'CONFLICT',
  payload_too_large: 'PAYLOAD_TOO_LARGE',
  range_not_satisfiable: 'BAD_REQUEST',
  rate_limited: 'TOO_MANY_REQUESTS',
  unavailable: 'SERVICE_UNAVAILABLE',
  incomplete: 'INTERNAL_SERVER_ERROR',
} as const;

/** A typed error as tRPC's: its code mapped, its message kept (the database away is `unavailable`: 503). */
const trpcErrorOf = (e: AppError): TRPCError => new TRPCError({ code: TRPC_CODE[e.code], message: e.message, cause: e });

// isDev false: error responses carry a code and message, never a stack trace.
const t = initTRPC.context<TrpcContext>().create({ isDev: false });

/**
 * Typed errors become tRPC errors once, here. As on REST: a query is open to every role, a mutation
 * needs at least `operator` (and `.use(needs(role))` more), a scoped token reads and acts on only the
 * devices in its scope (TRPC_DEVICE_SUBJECT) and changes only its scenarios (TRPC_SCENARIO_SUBJECT),
 * and each refusal for role or scope is audited.
 */
const operatorProcedure = t.procedure.use(async ({ ctx, next, type, path, getRawInput }) => {
  if (ctx.unavailable) throw trpcErrorOf(ctx.unavailable);
  const op = ctx.operator;
  if (!op) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'an operator token is required' });
  try {
    if (type === 'mutation' && !hasRole(op, 'operator')) throw new AppError('forbidden', forbiddenMessage(op, 'operator'));
    if (TRPC_FLEET_WIDE_READ.has(path)) refuseFleetWide(op);
    const device = TRPC_DEVICE_SUBJECT[path];
    if (device !== undefined) {
      if (isScoped(op)) {
        const id = pick(await getRawInput(), device);
        requireDeviceScope(op, id, typeof id === 'string' ? await ctx.devicePlace(id) : null);
      }
    } else if (type === 'mutation') {
      const subject = TRPC_SCENARIO_SUBJECT[path];
      requireScope(op, true, {
        declared: subject !== undefined,
        scenario: subject === undefined ? undefined : pick(await getRawInput(), subject),
      });
    }
  } catch (e) {
    if (!(e instanceof AppError)) {
      const trouble = ctx.databaseTrouble(e);
      throw trouble ? trpcErrorOf(trouble) : e;
    }
    await ctx.denied(op, `trpc ${path}`, e.message);
    throw new TRPCError({ code: 'FORBIDDEN', message: e.message });
  }
  // tRPC 11 hands resolver errors back as a result (not a throw); an AppError inside becomes its code here.
  const result = await next({ ctx: { operator: op } });
  if (!result.ok && result.error.cause instanceof AppError) {
    throw trpcErrorOf(result.error.cause);
  }
  // as on REST (HttpErrorFilter): the database away is a 503 to retry, not a 500
  const trouble = result.ok ? null : ctx.databaseTrouble(result.error.cause);
  if (trouble) throw trpcErrorOf(trouble);
  return result;
});

/** A procedure that needs more than its kind's default role (the audit: auditor; credentials: admin). */
const needs = (role: Role) =>
  operatorProcedure.use(async ({ ctx, next, path }) => {
    if (!hasRole(ctx.operator, role)) {
      const message = forbiddenMessage(ctx.operator, role);
      await ctx.denied(ctx.operator, `trpc ${path}`, message);
      throw new TRPCError({ code: 'FORBIDDEN', message });
    }
    return next();
  });

export interface RouterDeps {
  fleet: FleetService;
  models: ModelsService;
  telemetry: TelemetryQueries;
  folds: TelemetryRollupFoldService;
  policies: PoliciesService;
  policyDocument: PolicyDocumentService;
  assignments: AssignmentsService;
  rollouts: RolloutsService;
  alerts: AlertsService;
  energy: EnergyService;
  remediation: RemediationService;
  revocation: DeviceRevocationService;
  deviceSecrets: DeviceSecretService;
  tokens: ApiTokensService;
  audit: AuditService;
  auth: OperatorAuthService;
}

/**
 * The dashboard's API; the dashboard imports only this router's type. Every input and output schema
 * comes from `@edge-fleet/shared/api`, and each procedure calls the service method its REST route calls.
 */
export function buildRouter(d: RouterDeps) {
  return t.router({
    session: t.router({
      me: operatorProcedure.output(WhoAmISchema).query(({ ctx: { operator: o } }) => ({
        name: o.name,
        role: o.role,
        scenarios: o.scenarios,
        labels: o.labels,
        via: o.sessionId ? ('session' as const) : ('token' as const),
      })),
    }),
    // the same service methods as /api/v1/tokens…
    tokens: t.router({
      list: needs('admin')
        .output(ApiTokenListSchema)
        .query(async () => ({ items: await d.tokens.list() })),
      create: needs('admin')
        .input(CreateApiTokenSchema)
        .output(ApiTokenSecretSchema)
        .mutation(({ input, ctx }) => d.tokens.create(input, actor(ctx.operator))),
      rotate: needs('admin')
        .input(ApiTokenIdParamsSchema)
        .output(ApiTokenSecretSchema)
        .mutation(({ input, ctx }) => d.tokens.rotate(input.id, actor(ctx.operator))),
      revoke: needs('admin')
        .input(ApiTokenIdParamsSchema)
        .output(ApiTokenViewSchema)
        .mutation(({ input, ctx }) => d.tokens.revoke(input.id, actor(ctx.operator))),
    }),
    // the same service methods as /api/v1/audit…
    audit: t.router({
      list: needs('auditor')
        .input(AuditQuerySchema)
        .output(AuditPageSchema)
        .query(({ input, ctx }) => d.audit.list(input, scopeOf(ctx.operator))),
      verify: needs('auditor')
        .output(AuditVerificationSchema)
        .query(() => d.audit.verify()),
    }),
    // the same service methods as GET /api/v1/telemetry/rollups/parked and POST …/parked/requeue
    telemetry: t.router({
      parked: operatorProcedure.output(ParkedWindowsSchema).query(() => d.folds.parked()),
      requeueParked: needs('admin')
        .input(RequeueParkedSchema)
        .output(RequeuedParkedSchema)
        .mutation(({ input, ctx }) => d.folds.requeueParked(actor(ctx.operator), input.reason)),
    }),
    fleet: t.router({
      overview: operatorProcedure.query(({ ctx }) => d.fleet.overview(scopeOf(ctx.operator))),
    }),
    devices: t.router({
      // the dashboard's read models: the REST device list and device with live figures, reasons and policy added
      list: operatorProcedure
        .input(ListDevicesQuerySchema)
        .query(({ input, ctx }) => d.fleet.deviceList({ ...input, page: input.page ?? 1, scope: scopeOf(ctx.operator) })),
      get: operatorProcedure.input(DeviceIdParamsSchema).query(({ input }) => d.fleet.deviceDetail(input.id)),
      telemetry: operatorProcedure
        .input(DeviceTelemetryInputSchema)
        .output(DeviceTelemetrySchema)
        .query(({ input: { id, ...q } }) => d.telemetry.deviceTelemetry(id, q)),
      // the same service methods as POST /devices/:id/revoke and /enable
      revoke: operatorProcedure
        .input(DeviceIdParamsSchema)
        .mutation(({ input, ctx }) => d.revocation.revoke(input.id, actor(ctx.operator))),
      enable: operatorProcedure
        .input(DeviceIdParamsSchema)
        .mutation(({ input, ctx }) => d.revocation.enable(input.id, actor(ctx.operator))),
      // the same service method as POST /devices/:id/rotate-secret
      rotateSecret: needs('admin')
        .input(DeviceIdParamsSchema)
        .output(DeviceSecretSchema)
        .mutation(({ input, ctx }) => d.deviceSecrets.rotate(input.id, actor(ctx.operator))),
    }),
    policies: t.router({
      list: operatorProcedure.output(PolicyListSchema).query(async () => ({ items: await d.policies.list() })),
      update: operatorProcedure
        .input(PolicyUpdateInputSchema)
        .output(PolicyViewSchema)
        .mutation(({ input: { scenario, ...settings }, ctx }) => d.policies.update(scenario, settings, actor(ctx.operator))),
      exportYaml: operatorProcedure.output(PolicyYamlExportSchema).query(async () => ({ yaml: await d.policyDocument.exportYaml() })),
      importYaml: operatorProcedure
        .input(PolicyYamlImportInputSchema)
        .output(PolicyImportResultSchema)
        .mutation(({ input, ctx }) => d.policyDocument.importYaml(input.yaml, actor(ctx.operator))),
    }),
    assignments: t.router({
      preview: operatorProcedure
        .input(AssignmentPreviewInputSchema)
        .query(({ input }) => d.assignments.preview(input.scenario, input.modelVersionId)),
    }),
    models: t.router({
      list: operatorProcedure.query(async () => ({ items: await d.models.list() })),
    }),
    rollouts: t.router({
      list: operatorProcedure.query(async ({ ctx }) => ({ items: await d.rollouts.list(scopeOf(ctx.operator)) })),
      get: operatorProcedure.input(RolloutIdParamsSchema).query(({ input, ctx }) => d.rollouts.get(input.id, scopeOf(ctx.operator))),
      create: operatorProcedure.input(CreateRolloutSchema).mutation(({ input, ctx }) => d.rollouts.create(input, actor(ctx.operator))),
      act: operatorProcedure
        .input(RolloutActionParamsSchema)
        .mutation(({ input, ctx }) => d.rollouts[input.action](input.id, actor(ctx.operator))),
    }),
    alerts: t.router({
      list: operatorProcedure
        .input(AlertListQuerySchema)
        .output(AlertListSchema)
        .query(({ input, ctx }) => d.alerts.list(input, scopeOf(ctx.operator))),
      get: operatorProcedure.input(AlertIdParamsSchema).query(({ input, ctx }) => d.alerts.get(input.id, scopeOf(ctx.operator))),
      rules: operatorProcedure.output(AlertRuleListSchema).query(async () => ({ items: await d.alerts.listRules() })),
      // the rule body is validated by the service, so REST and tRPC name a bad field alike
      createRule: operatorProcedure.input((v: unknown) => v).mutation(({ input, ctx }) => d.alerts.createRule(input, actor(ctx.operator))),
      updateRule: operatorProcedure
        .input(AlertRuleUpdateInputSchema)
        .mutation(({ input, ctx }) => d.alerts.updateRule(input.id, input.rule, actor(ctx.operator))),
      silences: operatorProcedure.output(SilenceListSchema).query(async () => ({ items: await d.alerts.listSilences(false) })),
      createSilence: operatorProcedure
        .input(CreateSilenceSchema)
        .mutation(({ input, ctx }) => d.alerts.createSilence(input, actor(ctx.operator))),
      expireSilence: operatorProcedure
        .input(AlertIdParamsSchema)
        .mutation(({ input, ctx }) => d.alerts.expireSilence(input.id, actor(ctx.operator))),
    }),
    energy: t.router({
      report: operatorProcedure
        .input(EnergyQuerySchema)
        .output(EnergyReportSchema)
        .query(({ input, ctx }) => d.energy.report(input, scopeOf(ctx.operator))),
      device: operatorProcedure
        .input(DeviceEnergyInputSchema)
        .output(DeviceEnergySchema)
        .query(({ input }) => d.energy.deviceReport(input.id, input.sinceHours)),
    }),
    // the same service methods as /api/v1/remediation/…
    remediation: t.router({
      settings: operatorProcedure.output(RemediationSettingsListSchema).query(async () => ({ items: await d.remediation.settings() })),
      updateSettings: operatorProcedure
        .input(RemediationSettingsUpdateInputSchema)
        .output(RemediationSettingsViewSchema)
        .mutation(({ input, ctx }) => d.remediation.updateSettings(input.scenario, input.settings, actor(ctx.operator))),
      actions: operatorProcedure
        .input(RemediationListQuerySchema)
        .output(RemediationActionListSchema)
        .query(({ input, ctx }) => d.remediation.list(input, scopeOf(ctx.operator))),
      action: operatorProcedure
        .input(RemediationIdParamsSchema)
        .output(RemediationActionViewSchema)
        .query(({ input, ctx }) => d.remediation.get(input.id, scopeOf(ctx.operator))),
      approve: operatorProcedure
        .input(RemediationDecisionInputSchema)
        .output(RemediationActionViewSchema)
        .mutation(({ input, ctx }) => d.remediation.approve(input.id, actor(ctx.operator), input.comment)),
      reject: operatorProcedure
        .input(RemediationDecisionInputSchema)
        .output(RemediationActionViewSchema)
        .mutation(({ input, ctx }) => d.remediation.reject(input.id, actor(ctx.operator), input.comment)),
      device: operatorProcedure
        .input(DeviceIdParamsSchema)
        .output(DeviceRemediationSchema)
        .query(({ input }) => d.remediation.device(input.id)),
    }),
  });
}

export type AppRouter = ReturnType<typeof buildRouter>;
