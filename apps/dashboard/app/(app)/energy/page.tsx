import { EnergyPage } from '@/components/energy-page';

export default function Energy() {
  return <EnergyPage />;
}
