import { AlertList } from '@/components/alert-list';

export default function AlertsPage() {
  return <AlertList />;
}
