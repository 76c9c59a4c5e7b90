import { PolicyPage } from '@/components/policy-page';

export default function PoliciesPage() {
  return <PolicyPage />;
}
