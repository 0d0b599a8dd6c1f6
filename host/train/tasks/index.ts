// ============================================================================
// Tasks by name: the one place that turns a serialisable description (CLI
// options, a checkpoint's metadata, a worker thread's start data) into a Task.
// ============================================================================

import { Task } from '../task';
import { denoiseTask, DenoiseOptions } from './denoise';
import { sfmnistTask, SfmnistOptions } from './sfmnist';

export type TaskSpec = ({ name: 'sfmnist' } & SfmnistOptions) | ({ name: 'denoise' } & DenoiseOptions);

export const TASK_NAMES = ['sfmnist', 'denoise'] as const;

export function makeTask(spec: TaskSpec): Task {
  switch (spec.name) {
    case 'sfmnist':
      return sfmnistTask(spec);
    case 'denoise':
      return denoiseTask(spec);
  }
}
