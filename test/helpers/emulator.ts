import { Emulator, type EmulatorOptions } from "../../src/emulator/server.js";
import type { Stats } from "../../src/emulator/stats.js";

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  return Emulator.start({ log: () => undefined, ...opts });
}

export type EmulatorStats = ReturnType<Stats["snapshot"]>;

export async function emulatorStats(url: string): Promise<EmulatorStats> {
  return (await (await fetch(`${url}/_emulator/stats`)).json()) as EmulatorStats;
}

export async function resetStats(url: string): Promise<void> {
  await fetch(`${url}/_emulator/reset`, { method: "POST" });
}
