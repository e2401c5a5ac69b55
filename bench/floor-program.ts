// The least a push server can do per push, for `npm run bench -- --floor` (bench/floor-scenario.ts): read
// a line from a TCP socket (the publish), send one HTTP/2 request over TLS (the APNs push), and write a
// line back when it is answered (the reply). No parsing, no database, no metrics. What it costs per push
// on a machine is the floor under the app server's own CPU per push at the same rate.
import { connect as http2Connect } from "node:http2";
import { connect } from "node:net";

const [triggerPort, apnsPort] = process.argv.slice(2).map(Number);
const session = http2Connect(`https://127.0.0.1:${apnsPort}`, { ca: process.env.FLOOR_APNS_CA });
const body = JSON.stringify({ aps: { alert: { title: "New message", body: "New message" }, "mutable-content": 1 }, account: "f00d" });
let n = 0;

const push = (reply: () => void) => {
  n += 1;
  const stream = session.request({
    ":method": "POST",
    ":path": `/3/device/${n.toString(16).padStart(64, "0")}`,
    "apns-topic": "org.example.chat",
    "apns-push-type": "alert",
    "apns-priority": "10",
    "apns-id": crypto.randomUUID(),
  });
  stream.on("response", () => undefined);
  stream.on("data", () => undefined);
  stream.on("close", reply);
  stream.end(body);
};

const socket = connect(triggerPort!, "127.0.0.1");
socket.setNoDelay(true);
socket.on("data", (chunk: Buffer) => {
  for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) push(() => socket.write("ok\n"));
});
socket.on("close", () => {
  session.close();
});
