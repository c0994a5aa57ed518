// The som command: one file per subcommand.
import { Command } from "commander";
import { getCommand } from "./get.js";
import { mountCommand } from "./mount.js";
import { statusCommand } from "./status.js";
import { umountCommand } from "./umount.js";
import { uploadCommand } from "./upload.js";
import { installFriendlyErrors } from "./errors.js";
import { VERSION } from "../version.js";

export function program(): Command {
  const p = new Command("som")
    .description("Work with de-identified DICOM studies in Google Cloud Storage as local folders")
    .version(VERSION)
    .option("--debug", "verbose logging and stack traces");
  for (const c of [mountCommand(), umountCommand(), statusCommand(), uploadCommand(), getCommand()]) {
    installFriendlyErrors(c);
    p.addCommand(c);
  }
  installFriendlyErrors(p);
  return p;
}

export async function main(argv: string[]): Promise<void> {
  await program().parseAsync(argv);
}
