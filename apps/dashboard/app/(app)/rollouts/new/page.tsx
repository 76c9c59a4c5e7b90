import { RolloutForm } from '@/components/rollout-form';

export default function NewRolloutPage() {
  return <RolloutForm />;
}
