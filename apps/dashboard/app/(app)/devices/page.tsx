import { DeviceList } from '@/components/device-list';
import { filtersFromQuery } from '@/lib/device-filters';

export default async function DevicesPage({ searchParams }: PageProps<'/devices'>) {
  return <DeviceList initial={filtersFromQuery(await searchParams)} />;
}
