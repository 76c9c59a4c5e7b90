import { FleetOverview } from '@/components/fleet-overview';

export default function OverviewPage() {
  return <FleetOverview />;
}
