// Drives a Haulout relayer's upload relay with the official @mysten/walrus SDK.
// Input (stdin, JSON): {host, blobId, nonce (base64), txDigest, blobObjectId, encodingType,
// blob (base64)}. Output (stdout, JSON): the tip config and the certificate as the SDK parsed
// them. The Sui client points at a port where nothing listens: any Sui RPC the SDK made would
// fail, so a success shows the upload-relay leg needs none.
import { readFileSync } from "node:fs";
import { SuiJsonRpcClient } from "@mysten/sui/jsonRpc";
import { WalrusClient } from "@mysten/walrus";
// the SDK's relay client class itself (not exported by the package): for its tipConfig()
import { UploadRelayClient } from "./node_modules/@mysten/walrus/dist/upload-relay/client.mjs";

const input = JSON.parse(readFileSync(0, "utf8"));
const suiClient = new SuiJsonRpcClient({ url: "http://127.0.0.1:9", network: "testnet" });
const walrus = new WalrusClient({
  network: "testnet",
  suiClient,
  uploadRelay: { host: input.host, sendTip: { max: 1_000_000 } },
});
const tipConfig = await new UploadRelayClient({ host: input.host }).tipConfig();
const out = { tipConfig };
try {
  const written = await walrus.writeBlobToUploadRelay({
    blobId: input.blobId,
    blob: new Uint8Array(Buffer.from(input.blob, "base64")),
    nonce: new Uint8Array(Buffer.from(input.nonce, "base64")),
    txDigest: input.txDigest,
    blobObjectId: input.blobObjectId,
    deletable: Boolean(input.blobObjectId),
    encodingType: input.encodingType,
  });
  out.blobId = written.blobId;
  out.certificate = {
    signers: written.certificate.signers,
    serializedMessage: Buffer.from(written.certificate.serializedMessage).toString("base64"),
    signature: Buffer.from(written.certificate.signature).toString("base64"),
  };
} catch (error) {
  out.error = { name: error.constructor.name, status: error.status, message: String(error.message) };
}
process.stdout.write(JSON.stringify(out));
