import { RemediationLog } from '@/components/remediation-log';

export default function RemediationPage() {
  return <RemediationLog />;
}
