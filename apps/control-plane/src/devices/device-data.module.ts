import { Module } from '@nestjs/common';
import { CloneAlarmService } from './clone-alarm.service.js';
import { DeviceRepository } from './device.repository.js';

/**
 * The `Device` table's one owner, on its own: desired states, presence and rollouts write devices
 * through it without importing the devices module (whose enrollment tells rollouts, so importing it
 * from there would be a cycle).
 */
@Module({ providers: [DeviceRepository, CloneAlarmService], exports: [DeviceRepository, CloneAlarmService] })
export class DeviceDataModule {}
