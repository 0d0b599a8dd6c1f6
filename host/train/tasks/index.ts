// ============================================================================
// Tasks by name: the one place that turns a serialisable description (CLI
// options, a checkpoint's metadata, a worker thread's start data) into a Task.
// ============================================================================

import { Task } from '../task';
import { sfmnistTask, SfmnistOptions } from './sfmnist';

export type TaskSpec = ({ name: 'sfmnist' } & SfmnistOptions);

export const TASK_NAMES = ['sfmnist'] as const;

export function makeTask(spec: TaskSpec): Task {
  switch (spec.name) {
    case 'sfmnist':
      return sfmnistTask(spec);
  }
}
