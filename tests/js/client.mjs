// A TypeScript SDK client driven by a JSON script, for the gateway tests:
//   node client.mjs 1|2 URL '[{"op": "listTools"}, {"op": "callTool", "name": "x", "arguments": {}}]'
// URL may be stdio:["command", "arg", ...] to spawn a stdio server instead (its stderr is ignored;
// environment: the script's own).
// 1 is @modelcontextprotocol/sdk 1.x (what the MCP Inspector and most hosts embed), 2 is
// @modelcontextprotocol/client 2.x. Prints one JSON line per step: {"ok": result} or
// {"error": {"code", "message"}} — exactly what the SDK handed the application.
// Options in the script's first step {"op": "options", "elicit": {...}, "sampling": {...}}
// declare the capability and answer every such request with the given result; "logs": true
// records the log messages the client receives (step "seen" returns them with the requests).
const [generation, url, script] = process.argv.slice(2);
const steps = JSON.parse(script);

const sdk =
  generation === "1"
    ? {
        ...(await import("@modelcontextprotocol/sdk/client/index.js")),
        ...(await import("@modelcontextprotocol/sdk/client/streamableHttp.js")),
        ...(await import("@modelcontextprotocol/sdk/types.js")),
      }
    : await import("@modelcontextprotocol/client");

const options = steps[0]?.op === "options" ? steps.shift() : {};
const capabilities = {};
if (options.elicit) capabilities.elicitation = { form: {} };
if (options.sampling) capabilities.sampling = {};
const client = new sdk.Client({ name: `ts-sdk-${generation}-test`, version: "1.0.0" }, { capabilities });
const seen = [];
if (options.elicit) {
  client.setRequestHandler(
    generation === "1" ? sdk.ElicitRequestSchema : "elicitation/create",
    async (request) => {
      seen.push({ method: "elicitation/create", params: request.params });
      return options.elicit;
    },
  );
}
if (options.sampling) {
  client.setRequestHandler(
    generation === "1" ? sdk.CreateMessageRequestSchema : "sampling/createMessage",
    async (request) => {
      seen.push({ method: "sampling/createMessage", params: request.params });
      return options.sampling;
    },
  );
}
if (options.logs) {
  client.setNotificationHandler(
    generation === "1" ? sdk.LoggingMessageNotificationSchema : "notifications/message",
    async (notification) => {
      seen.push({ method: "notifications/message", params: notification.params });
    },
  );
}
let transport;
if (url.startsWith("stdio:")) {
  const [command, ...args] = JSON.parse(url.slice("stdio:".length));
  const stdio = await import(
    generation === "1" ? "@modelcontextprotocol/sdk/client/stdio.js" : "@modelcontextprotocol/client/stdio"
  );
  transport = new stdio.StdioClientTransport({ command, args, env: process.env, stderr: "ignore" });
} else {
  transport = new sdk.StreamableHTTPClientTransport(new URL(url));
}
await client.connect(transport);

const out = (value) => process.stdout.write(JSON.stringify(value) + "\n");
for (const step of steps) {
  try {
    let result;
    if (step.op === "listTools") result = await client.listTools();
    else if (step.op === "callTool")
      result = await client.callTool({ name: step.name, arguments: step.arguments ?? {}, _meta: step.meta });
    else if (step.op === "complete") result = await client.complete(step.params);
    else if (step.op === "readResource") result = await client.readResource({ uri: step.uri });
    else if (step.op === "setLevel") result = await client.setLoggingLevel(step.level);
    else if (step.op === "seen") result = seen.splice(0);
    else throw new Error(`unknown step ${step.op}`);
    out({ ok: result });
  } catch (error) {
    out({ error: { code: error.code ?? null, message: String(error.message ?? error) } });
  }
}
await client.close();
