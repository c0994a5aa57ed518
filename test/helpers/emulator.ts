import { Emulator, type EmulatorOptions } from "../../src/emulator/server.js";

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  return Emulator.start({ log: () => undefined, ...opts });
}

export async function emulatorStats(url: string): Promise<Record<string, number>> {
  return (await (await fetch(`${url}/_emulator/stats`)).json()) as Record<string, number>;
}

export async function resetStats(url: string): Promise<void> {
  await fetch(`${url}/_emulator/reset`, { method: "POST" });
}
