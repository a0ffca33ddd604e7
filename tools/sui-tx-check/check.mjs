// Decode Haulout's BCS TransactionData with Mysten's official TypeScript SDK (@mysten/sui) and
// check Ed25519 intent signatures with it: an independent reading of haulout/chain/sui_tx.py.
//
// stdin: {"functions": {"module::function": ["u64", "&mut System", ...]},   (Move parameters)
//         "transactions": [{"name", "bytes" (base64), "signature" (base64, optional)}]}
// stdout: {"results": [{"name", "error"?, "sender", "gas", "expiration", "inputs", "commands",
//          "unused_inputs", "roundtrip", "sdk_roundtrip", "signer"?, "signature_error"?}]}
//
// Pure values are decoded with the Move type of the parameter they are passed to, re-encoded,
// and compared with the bytes given (so trailing or non-canonical bytes are reported).
import { bcs } from '@mysten/sui/bcs';
import { Transaction } from '@mysten/sui/transactions';
import { fromBase64, toBase64, toHex, normalizeSuiAddress } from '@mysten/sui/utils';
import { verifyTransactionSignature } from '@mysten/sui/verify';

const PRIMITIVES = {
  u8: () => bcs.u8(),
  u16: () => bcs.u16(),
  u32: () => bcs.u32(),
  u64: () => bcs.u64(),
  u128: () => bcs.u128(),
  u256: () => bcs.u256(),
  bool: () => bcs.bool(),
  address: () => bcs.Address,
  ID: () => bcs.Address,
  String: () => bcs.string(),
};

// A Move type string ("vector<vector<u16>>", "String", "&mut System") → a bcs type, or null
// when values of that type cannot be pure (objects, references).
function pureType(move) {
  const t = move.trim();
  if (t.startsWith('&')) return null;
  if (PRIMITIVES[t]) return PRIMITIVES[t]();
  const m = /^(vector|Option)<(.*)>$/.exec(t);
  if (!m) return null;
  const inner = pureType(m[2]);
  if (!inner) return null;
  return m[1] === 'vector' ? bcs.vector(inner) : bcs.option(inner);
}

// Decoded values as plain JSON: integers as decimal strings, byte vectors and addresses as
// 0x-hex, strings as strings, vectors as arrays.
function plain(move, value) {
  const t = move.trim();
  if (value === null || value === undefined) return null;
  if (t === 'address' || t === 'ID') return normalizeSuiAddress(value);
  if (t === 'bool' || t === 'String') return value;
  if (t === 'vector<u8>') return '0x' + toHex(Uint8Array.from(value));
  const m = /^(vector|Option)<(.*)>$/.exec(t);
  if (m && m[1] === 'vector') return value.map((v) => plain(m[2], v));
  if (m) return plain(m[2], value);
  return String(value);
}

function decodePure(move, b64) {
  const type = pureType(move);
  if (!type) return { error: `a pure value passed where Move takes ${move}` };
  const bytes = fromBase64(b64);
  try {
    const value = type.parse(bytes);
    const again = type.serialize(value).toBytes();
    if (toBase64(again) !== b64) return { error: `bytes are not the canonical ${move}`, type: move };
    return { type: move, value: plain(move, value) };
  } catch (e) {
    return { error: `cannot read ${move}: ${e.message}` };
  }
}

function objectInput(obj) {
  if (obj.ImmOrOwnedObject) {
    const r = obj.ImmOrOwnedObject;
    return { owned: normalizeSuiAddress(r.objectId), version: String(r.version), digest: r.digest };
  }
  if (obj.SharedObject) {
    const r = obj.SharedObject;
    return {
      shared: normalizeSuiAddress(r.objectId),
      initial_version: String(r.initialSharedVersion),
      mutable: r.mutable,
    };
  }
  const r = obj.Receiving;
  return { receiving: normalizeSuiAddress(r.objectId), version: String(r.version), digest: r.digest };
}

function argument(arg, inputs, used, move) {
  if (arg.GasCoin) return { gas: true };
  if (arg.Result !== undefined) return { result: arg.Result };
  if (arg.NestedResult) return { nested: arg.NestedResult };
  const index = arg.Input;
  const input = inputs[index];
  if (!input) return { error: `input ${index} does not exist` };
  used.add(index);
  if (input.Object) return { input: index, object: objectInput(input.Object) };
  if (input.Pure) {
    if (move === undefined) return { input: index, error: 'a pure input with no Move type known' };
    return { input: index, pure: decodePure(move, input.Pure.bytes) };
  }
  return { input: index, error: `unknown input kind ${Object.keys(input)}` };
}

function command(cmd, inputs, used, functions) {
  if (cmd.MoveCall) {
    const c = cmd.MoveCall;
    const target = `${c.module}::${c.function}`;
    const params = functions[target];
    const out = {
      kind: 'MoveCall',
      package: normalizeSuiAddress(c.package),
      module: c.module,
      function: c.function,
      type_arguments: c.typeArguments,
      params: params ?? null,
    };
    out.arguments = c.arguments.map((a, i) => argument(a, inputs, used, params ? params[i] : undefined));
    return out;
  }
  if (cmd.TransferObjects) {
    const t = cmd.TransferObjects;
    return {
      kind: 'TransferObjects',
      objects: t.objects.map((a) => argument(a, inputs, used, undefined)),
      address: argument(t.address, inputs, used, 'address'),
    };
  }
  if (cmd.SplitCoins) {
    const t = cmd.SplitCoins;
    return {
      kind: 'SplitCoins',
      coin: argument(t.coin, inputs, used, undefined),
      amounts: t.amounts.map((a) => argument(a, inputs, used, 'u64')),
    };
  }
  if (cmd.MergeCoins) {
    const t = cmd.MergeCoins;
    return {
      kind: 'MergeCoins',
      destination: argument(t.destination, inputs, used, undefined),
      sources: t.sources.map((a) => argument(a, inputs, used, undefined)),
    };
  }
  if (cmd.Publish) {
    return {
      kind: 'Publish',
      modules: cmd.Publish.modules.map((m) => '0x' + toHex(fromBase64(m))),
      dependencies: cmd.Publish.dependencies.map((d) => normalizeSuiAddress(d)),
    };
  }
  return { kind: Object.keys(cmd).find((k) => k !== '$kind'), raw: cmd };
}

async function check(tx, functions) {
  const bytes = fromBase64(tx.bytes);
  const out = { name: tx.name };
  let data;
  try {
    data = bcs.TransactionData.parse(bytes);
  } catch (e) {
    return { ...out, error: `TransactionData does not parse: ${e.message}` };
  }
  out.roundtrip = toBase64(bcs.TransactionData.serialize(data).toBytes()) === tx.bytes;
  const v1 = data.V1;
  out.sender = normalizeSuiAddress(v1.sender);
  out.gas = {
    payment: v1.gasData.payment.map((r) => ({
      owned: normalizeSuiAddress(r.objectId),
      version: String(r.version),
      digest: r.digest,
    })),
    owner: normalizeSuiAddress(v1.gasData.owner),
    price: String(v1.gasData.price),
    budget: String(v1.gasData.budget),
  };
  out.expiration = v1.expiration.None ? null : v1.expiration;
  const ptb = v1.kind.ProgrammableTransaction;
  if (!ptb) return { ...out, error: `not a programmable transaction: ${Object.keys(v1.kind)}` };
  const used = new Set();
  out.inputs = ptb.inputs.length;
  out.commands = ptb.commands.map((c) => command(c, ptb.inputs, used, functions));
  out.unused_inputs = [...Array(ptb.inputs.length).keys()].filter((i) => !used.has(i));
  try {
    // the SDK's own Transaction: read the bytes, build them again with nothing to resolve
    const built = await Transaction.from(bytes).build();
    out.sdk_roundtrip = toBase64(built) === tx.bytes;
  } catch (e) {
    out.sdk_roundtrip = false;
    out.sdk_error = e.message;
  }
  if (tx.signature) {
    try {
      const key = await verifyTransactionSignature(bytes, tx.signature);
      out.signer = key.toSuiAddress();
    } catch (e) {
      out.signature_error = e.message;
    }
  }
  return out;
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const results = [];
for (const tx of request.transactions) {
  try {
    results.push(await check(tx, request.functions));
  } catch (e) {
    results.push({ name: tx.name, error: `checker failed: ${e.stack}` });
  }
}
process.stdout.write(JSON.stringify({ results }));
