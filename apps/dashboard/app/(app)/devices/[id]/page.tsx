import { DeviceDetail } from '@/components/device-detail';

export default async function DevicePage({ params }: PageProps<'/devices/[id]'>) {
  const { id } = await params;
  return <DeviceDetail id={id} />;
}
