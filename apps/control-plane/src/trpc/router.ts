import { initTRPC, TRPCError } from '@trpc/server';
import { CreateRolloutSchema, DeviceIdSchema, PolicySettingsSchema, ScenarioSchema } from '@edge-fleet/shared';
import { z } from 'zod';
import type { AssignmentsService } from '../assignments/assignments.service.js';
import type { Operator } from '../auth/api-token.repository.js';
import { ListDevicesQuerySchema, TelemetryQuerySchema } from '../devices/devices.controller.js';
import { AppError } from '../errors.js';
import type { FleetService } from '../fleet/fleet.service.js';
import type { ModelsService } from '../models/models.service.js';
import { policiesFromYaml, policiesToYaml } from '../policies/policy-yaml.js';
import type { PolicyRepository } from '../policies/policy.repository.js';
import type { RolloutsService } from '../rollouts/rollouts.service.js';
import type { TelemetryRepository } from '../telemetry/telemetry.repository.js';

export interface TrpcContext {
  operator: Operator | null;
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
  unavailable: 'SERVICE_UNAVAILABLE',
} as const;

// isDev false: error responses carry a code and message, never a stack trace.
const t = initTRPC.context<TrpcContext>().create({ isDev: false });

/** Typed errors become tRPC errors once, here. */
const operatorProcedure = t.procedure.use(async ({ ctx, next }) => {
  if (!ctx.operator) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'an operator token is required' });
  // tRPC 11 hands resolver errors back as a result (not a throw); an AppError inside becomes its code here.
  const result = await next({ ctx: { operator: ctx.operator } });
  if (!result.ok && result.error.cause instanceof AppError) {
    throw new TRPCError({ code: TRPC_CODE[result.error.cause.code], message: result.error.cause.message, cause: result.error.cause });
  }
  return result;
});

export interface RouterDeps {
  fleet: FleetService;
  models: ModelsService;
  telemetry: TelemetryRepository;
  policies: PolicyRepository;
  assignments: AssignmentsService;
  rollouts: RolloutsService;
}

/** The dashboard's API; the dashboard imports only this router's type. */
export function buildRouter(d: RouterDeps) {
  return t.router({
    fleet: t.router({
      overview: operatorProcedure.query(() => d.fleet.overview()),
    }),
    devices: t.router({
      list: operatorProcedure.input(ListDevicesQuerySchema).query(({ input }) => d.fleet.deviceList({ ...input, page: input.page ?? 1 })),
      get: operatorProcedure.input(z.object({ id: DeviceIdSchema })).query(({ input }) => d.fleet.deviceDetail(input.id)),
      telemetry: operatorProcedure.input(TelemetryQuerySchema.partial().extend({ id: DeviceIdSchema })).query(async ({ input }) => ({
        points: await d.telemetry.range(input.id, new Date(Date.now() - (input.sinceMinutes ?? 15) * 60_000), input.limit ?? 500),
      })),
    }),
    policies: t.router({
      list: operatorProcedure.query(async () => ({ items: await d.policies.list() })),
      update: operatorProcedure.input(PolicySettingsSchema.extend({ scenario: ScenarioSchema })).mutation(async ({ input, ctx }) => {
        const { scenario, ...settings } = input;
        await d.policies.update([{ scenario, settings }], `operator:${ctx.operator.tokenId}`);
        return { items: await d.policies.list() };
      }),
      exportYaml: operatorProcedure.query(async () => ({ yaml: policiesToYaml(await d.policies.list()) })),
      importYaml: operatorProcedure.input(z.object({ yaml: z.string().min(1).max(262_144) })).mutation(async ({ input, ctx }) => {
        const changes = policiesFromYaml(input.yaml);
        await d.policies.update(changes, `operator:${ctx.operator.tokenId}`);
        return { updated: changes.map((c) => c.scenario), items: await d.policies.list() };
      }),
    }),
    assignments: t.router({
      preview: operatorProcedure
        .input(z.object({ scenario: ScenarioSchema, modelVersionId: z.uuid() }))
        .query(({ input }) => d.assignments.preview(input.scenario, input.modelVersionId)),
    }),
    models: t.router({
      list: operatorProcedure.query(async () => ({ items: await d.models.list() })),
    }),
    rollouts: t.router({
      list: operatorProcedure.query(async () => ({ items: await d.rollouts.list() })),
      get: operatorProcedure.input(z.object({ id: z.uuid() })).query(({ input }) => d.rollouts.get(input.id)),
      create: operatorProcedure
        .input(CreateRolloutSchema)
        .mutation(({ input, ctx }) => d.rollouts.create(input, `operator:${ctx.operator.tokenId}`)),
      act: operatorProcedure
        .input(z.object({ id: z.uuid(), action: z.enum(['pause', 'resume', 'abort', 'approve']) }))
        .mutation(({ input, ctx }) => d.rollouts[input.action](input.id, `operator:${ctx.operator.tokenId}`)),
    }),
  });
}

export type AppRouter = ReturnType<typeof buildRouter>;
