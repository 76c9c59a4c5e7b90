import type { UpdateOutcome } from '@edge-fleet/shared';

export type FailureCode = NonNullable<UpdateOutcome['reasonCode']>;

/** A step failed for a reason the device reports (`lastUpdate.reasonCode`). */
export class StepFailure extends Error {
  constructor(
    readonly reasonCode: FailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'StepFailure';
  }
}
