// The `--ca` file reader shared by chat client, chat check and chat bench:
// a PEM file is read, anything else gets one sentence naming the file.

import assert from "node:assert/strict";
import { MAX_CA_FILE_BYTES, readCaFile } from "../lib/ca_file.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

Deno.test("reads a PEM file, and names the file in every refusal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-ca-file-" });
  try {
    await Deno.writeTextFile(`${dir}/ok.pem`, PEM);
    assert.deepEqual(await readCaFile(`${dir}/ok.pem`), { ok: true, pem: PEM });

    await Deno.writeTextFile(`${dir}/key.pem`, "-----BEGIN PRIVATE KEY-----\n");
    assert.deepEqual(await readCaFile(`${dir}/key.pem`), {
      ok: false,
      reason: `--ca ${dir}/key.pem: no PEM certificate ("-----BEGIN CERTIFICATE-----") in it`,
    });

    await Deno.writeFile(`${dir}/big.pem`, new Uint8Array(MAX_CA_FILE_BYTES + 1));
    assert.deepEqual(await readCaFile(`${dir}/big.pem`), {
      ok: false,
      reason: `--ca ${dir}/big.pem: larger than ${MAX_CA_FILE_BYTES} bytes`,
    });

    const missing = await readCaFile(`${dir}/missing.pem`);
    assert.equal(missing.ok, false);
    assert.match(!missing.ok ? missing.reason : "", /^cannot read --ca .*missing\.pem: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
