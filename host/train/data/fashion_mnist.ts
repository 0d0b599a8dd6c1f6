// ============================================================================
// Fashion-MNIST on disk: where it is, and its four IDX files loaded and
// cross-checked (image and label counts agree, train and test images have the
// same size). Debian's `dataset-fashion-mnist` installs it at
// /usr/share/datasets/fashion-mnist; SPARROW_FASHION_MNIST_DIR or an explicit
// directory overrides that (tests write a tiny fake set there).
//
// Cost: ≈ 0.5 s and 55 MB (the gunzipped 60,000 + 10,000 images of 28×28
// bytes), once per task.
// ============================================================================

import { existsSync, statSync } from 'fs';
import { join } from 'path';
import { SparrowError } from '../../util/errors';
import { IdxImages, readIdxImages, readIdxLabels } from './idx';

export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_DIR_ENV = 'SPARROW_FASHION_MNIST_DIR';
export const FASHION_MNIST_INSTALL = 'apt-get install dataset-fashion-mnist';
export const FASHION_MNIST_CLASSES = 10;

/** Class names in label order (Zalando's README). */
export const FASHION_MNIST_CLASS_NAMES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
  'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;

export interface LabelledImages extends IdxImages {
  /** [count] class indices 0..9. */
  labels: Uint8Array;
}

export interface FashionMnist {
  dir: string;
  /** The 60,000 training images. */
  train: LabelledImages;
  /** The 10,000 t10k images. */
  test: LabelledImages;
}

/** Explicit directory, else $SPARROW_FASHION_MNIST_DIR (set and non-empty), else the Debian path. */
export function fashionMnistDir(dir?: string): string {
  return dir ?? (process.env[FASHION_MNIST_DIR_ENV] || FASHION_MNIST_DEFAULT_DIR);
}

function notFound(dir: string, detail: string): SparrowError {
  return new SparrowError(`Fashion-MNIST not found at ${dir}${detail} (install it once: ${FASHION_MNIST_INSTALL})`);
}

/** `<stem>.gz` if present, else the uncompressed `<stem>`; missing → the install command. */
function locate(dir: string, stem: string): string {
  for (const name of [`${stem}.gz`, stem]) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw notFound(dir, `: no ${stem}.gz`);
}

function loadSplit(dir: string, prefix: 'train' | 't10k'): LabelledImages {
  const imagesFile = locate(dir, `${prefix}-images-idx3-ubyte`);
  const labelsFile = locate(dir, `${prefix}-labels-idx1-ubyte`);
  const images = readIdxImages(imagesFile);
  const { count, labels } = readIdxLabels(labelsFile, FASHION_MNIST_CLASSES);
  if (count !== images.count) {
    throw new SparrowError(`${labelsFile}: ${count.toLocaleString('en-US')} labels for the ${images.count.toLocaleString('en-US')} images in ${imagesFile}`);
  }
  return { ...images, labels };
}

/** Load both splits; every failure is one line naming the file (or the install command). */
export function loadFashionMnist(dir?: string): FashionMnist {
  const root = fashionMnistDir(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw notFound(root, '');
  const train = loadSplit(root, 'train');
  const test = loadSplit(root, 't10k');
  if (train.rows !== test.rows || train.cols !== test.cols) {
    throw new SparrowError(
      `Fashion-MNIST at ${root}: training images are ${train.rows}×${train.cols} pixels but t10k images are ${test.rows}×${test.cols}`,
    );
  }
  return { dir: root, train, test };
}
