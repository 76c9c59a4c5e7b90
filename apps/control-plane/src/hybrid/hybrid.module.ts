import { Module } from '@nestjs/common';
import { HybridPlacementRepository } from './hybrid-placement.repository.js';
import { HybridPlacementService } from './hybrid-placement.service.js';

/** Hybrid placement: which devices forward, to which cloud nodes, with what grant. */
@Module({
  providers: [HybridPlacementRepository, HybridPlacementService],
  exports: [HybridPlacementService],
})
export class HybridModule {}
