// Runs exported MusicVAE folders in magenta.js (@magenta/music, Node) for
// tests/export/test_export_magentajs.py.
//
// Usage: node magentajs_runner.js JOB.json RESULT.json
//
// JOB.json: {"jobs": [{
//   "name": id of the job,
//   "url": the folder's address (magenta.js fetches config.json, the manifest and shards),
//   "inputs": optional [B, T, D] tensors to encode (encodeTensors),
//   "sequences": optional NoteSequence objects (camelCase fields) to turn into
//                tensors with the model's data converter and to encode,
//   "chords": optional chord symbols (chord-conditioned models),
//   "z": optional [B, Z] latents to decode (decodeTensors),
//   "temperature": optional; absent / null = magenta.js's argmax decoding
// }]}
// RESULT.json: {"versions": {...}, "backend": name, "results": {name: {
//   "mu", "tensors", "mu_sequences", "decoded", "decoded_notes", "seconds"} or {"error": message}}}
//
// Only the music_vae module is loaded: magenta.js's `core` pulls in Tone.js,
// which does not load under Node. tfjs runs on its pure-JavaScript CPU backend.

'use strict';

const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const {MusicVAE} = require('@magenta/music/node/music_vae');

// magenta.js logs to stdout; keep stdout for what this script itself says.
const quiet = () => {};
console.log = quiet;
console.info = quiet;

async function encodeAll(model, batch, controlArgs) {
  // Converters with an end token (multitrack) encode one sequence per call.
  if (!model.dataConverter.endTensor) {
    const mu = await model.encodeTensors(batch, controlArgs);
    const out = await mu.array();
    mu.dispose();
    return out;
  }
  const rows = [];
  for (let i = 0; i < batch.shape[0]; ++i) {
    const one = tf.slice(batch, [i, 0, 0], [1, -1, -1]);
    const mu = await model.encodeTensors(one, controlArgs);
    rows.push((await mu.array())[0]);
    mu.dispose();
    one.dispose();
  }
  return rows;
}

function noteFields(note) {
  const out = {};
  for (const key of ['pitch', 'velocity', 'startTime', 'endTime', 'quantizedStartStep',
                     'quantizedEndStep', 'program', 'instrument', 'isDrum']) {
    if (note[key] !== undefined && note[key] !== null) {
      out[key] = typeof note[key] === 'object' ? Number(note[key]) : note[key];
    }
  }
  return out;
}

async function runJob(job) {
  const start = Date.now();
  const model = new MusicVAE(job.url);
  await model.initialize();
  const controlArgs = job.chords ? {chordProgression: job.chords} : undefined;
  const result = {};
  try {
    if (job.inputs) {
      const inputs = tf.tensor3d(job.inputs);
      result.mu = await encodeAll(model, inputs, controlArgs);
      inputs.dispose();
    }
    if (job.sequences) {
      const tensors = job.sequences.map(s => model.dataConverter.toTensor(s));
      result.tensors = await Promise.all(tensors.map(t => t.array()));
      const batch = tf.stack(tensors);
      result.mu_sequences = await encodeAll(model, batch, controlArgs);
      batch.dispose();
      tensors.forEach(t => t.dispose());
    }
    if (job.z) {
      const z = tf.tensor2d(job.z);
      const temperature = job.temperature == null ? undefined : job.temperature;
      const decoded = await model.decodeTensors(z, temperature, controlArgs);
      result.decoded = await decoded.array();
      result.decoded_notes = [];
      for (const row of tf.unstack(decoded)) {
        const ns = await model.dataConverter.toNoteSequence(row, undefined, undefined);
        result.decoded_notes.push((ns.notes || []).map(noteFields));
        row.dispose();
      }
      decoded.dispose();
      z.dispose();
    }
  } finally {
    model.dispose();
  }
  result.seconds = (Date.now() - start) / 1000;
  return result;
}

async function main() {
  const [jobPath, resultPath] = process.argv.slice(2);
  if (!jobPath || !resultPath) {
    process.stderr.write('usage: node magentajs_runner.js JOB.json RESULT.json\n');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  const job = JSON.parse(fs.readFileSync(jobPath, 'utf8'));
  const out = {
    versions: {
      tfjs: tf.version.tfjs,
      magenta: require('@magenta/music/package.json').version,
      node: process.version,
    },
    backend: tf.getBackend(),
    results: {},
  };
  for (const item of job.jobs) {
    try {
      out.results[item.name] = await runJob(item);
    } catch (e) {
      out.results[item.name] = {error: String(e && e.stack ? e.stack : e)};
    }
  }
  fs.writeFileSync(resultPath, JSON.stringify(out));
}

main().catch(e => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
