import { RolloutList } from '@/components/rollout-list';

export default function RolloutsPage() {
  return <RolloutList />;
}
