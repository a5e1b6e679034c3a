// The `--ca` file reader shared by chat client, chat check and chat bench:
// a PEM file is read, anything else gets one sentence naming the file.

import assert from "node:assert/strict";
import { caFlag, MAX_CA_FILE_BYTES, pemCertificates, readCaFile } from "../lib/ca_file.ts";

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

Deno.test("each certificate of a --ca file is kept as DER bytes, to be recognised when presented", async () => {
  const two = "junk\n-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n" +
    "-----BEGIN CERTIFICATE-----\r\nBA\r\nU=\r\n-----END CERTIFICATE-----\r\n" +
    "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n";
  assert.deepEqual(pemCertificates(two), [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])]);
  const dir = await Deno.makeTempDir({ prefix: "chat-ca-file-" });
  try {
    await Deno.writeTextFile(`${dir}/two.pem`, two);
    assert.deepEqual(await caFlag(`${dir}/two.pem`), {
      ok: true,
      ca: [two],
      pinned: [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])],
    });
    assert.deepEqual(await caFlag(undefined), { ok: true });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
