import { noEnergyFigures } from '@edge-fleet/shared/api';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { ScenarioEnergy } from '@/lib/api-types';
import { EnergyScenario } from './energy-table';

const HOSTILE = '<img src=x onerror=alert(1)>';
const figures = noEnergyFigures('no sensor or estimated power windows in the period');

describe('energy table', () => {
  it('renders a hostile variant id and reason as text, not markup', () => {
    const s: ScenarioEnergy = {
      scenario: 'financial_trading',
      baselineVariantId: 'a',
      variants: [
        {
          variantId: HOSTILE,
          precision: null,
          method: null,
          status: null,
          modelName: null,
          modelVersion: null,
          storageBytes: null,
          observed: figures,
          simulated: figures,
        },
      ],
      comparisons: [
        {
          variantId: HOSTILE,
          precision: null,
          baselineVariantId: 'a',
          baselinePrecision: 'fp32',
          kind: 'observed',
          ratePerSecond: null,
          variantKwhPerDay: null,
          baselineKwhPerDay: null,
          savedKwhPerDay: null,
          savedCostPerDay: null,
          variantBasis: null,
          baselineBasis: 'measured',
          sentence: null,
          omitted: `UNKNOWN PRECISION has no observed energy (${HOSTILE})`,
        },
      ],
    };
    const html = renderToStaticMarkup(createElement(EnergyScenario, { s, currency: 'EUR' }));
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('no data: no sensor or estimated power windows in the period');
    expect(html).toContain('No comparison: UNKNOWN PRECISION has no observed energy');
  });
});
