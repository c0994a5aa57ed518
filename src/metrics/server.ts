// The Prometheus endpoint (--metrics-port): GET /metrics on loopback unless
// --metrics-address says otherwise. Scrapes are answered from the registry;
// nothing is computed between them.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { MountMetrics } from "./metrics.js";

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function serveMetrics(metrics: MountMetrics, address: string, port: number): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("som serves /metrics only\n");
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
  return { url: `http://${host}:${a.port}/metrics`, close: () => closeServer(server) };
}
