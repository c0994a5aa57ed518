// libc calls Node has no binding for (umount2, flock), through koffi's FFI:
// the library is loaded once, each function looked up on its first call.
import koffi from "koffi";

let lib: ReturnType<typeof koffi.load> | undefined;

/** A lazily bound libc function, e.g. libcFunction<(fd: number, op: number) => number>("int flock(int fd, int operation)"). */
export function libcFunction<F>(declaration: string): () => F {
  let fn: F | undefined;
  return () => (fn ??= (lib ??= koffi.load("libc.so.6")).func(declaration) as F);
}
