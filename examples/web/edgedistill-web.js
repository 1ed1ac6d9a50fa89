// Load an edgedistill student in the browser with onnxruntime-web (WebAssembly) and classify raw rows.
// Shared by this example's page and by anything else that needs the same loading code.
// Needs the global `ort` from node_modules/onnxruntime-web/dist/ort.min.js.

const ORT_DIST = new URL("node_modules/onnxruntime-web/dist/", document.baseURI).href;

export async function loadStudent(modelUrl, metaUrl, { threads = 1 } = {}) {
  ort.env.wasm.wasmPaths = ORT_DIST;   // served from node_modules: no CDN
  ort.env.wasm.numThreads = threads;   // > 1 needs a cross-origin isolated page (COOP/COEP headers)
  const meta = await (await fetch(metaUrl)).json();
  // No model URL: the file meta.json names (student.onnx or student.ort), next to meta.json.
  const url = modelUrl || new URL(meta.model_file || "student.onnx", new URL(metaUrl, document.baseURI)).href;
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(url, { executionProviders: ["wasm"] });
  const createMs = performance.now() - t0;
  const input = meta.inputs[0];
  return { session, meta, input, createMs, ortVersion: ort.env.versions ? ort.env.versions.web : "unknown" };
}

// Raw rows (e.g. 64 pixel counts 0..16) -> model input tensor, using the model's own preprocessing.
export function toTensor(student, rows) {
  const { input, meta } = student;
  const perRow = input.shape.slice(1).reduce((a, b) => a * b, 1);
  const data = new Float32Array(rows.length * perRow);
  rows.forEach((row, i) => {
    if (row.length !== perRow) throw new Error(`row ${i} has ${row.length} values; the model expects ${perRow} (${input.name} ${JSON.stringify(input.shape)})`);
    for (let j = 0; j < perRow; j++) data[i * perRow + j] = (row[j] - meta.mean) / meta.std;
  });
  return new ort.Tensor("float32", data, [rows.length, ...input.shape.slice(1)]);
}

export async function classify(student, rows) {
  const feeds = { [student.input.name]: toTensor(student, rows) };
  const out = await student.session.run(feeds);
  const logits = out[student.session.outputNames[0]];
  const k = logits.dims[logits.dims.length - 1];
  const labels = [];
  for (let i = 0; i < rows.length; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits.data[i * k + j] > logits.data[i * k + best]) best = j;
    labels.push(student.meta.class_names[best]);
  }
  return { labels, logits: Array.from(logits.data) };
}
