/**
 * Turns whatever a failed request throws into what a user needs: the stable code, the
 * message and the hint. Pure: the sidecar's errors arrive as JSON-RPC ResponseErrors
 * whose `data` is {code, message, hint, retryable, ...} (errors.py).
 */
import { ErrorData, REQUEST_CANCELLED_RPC } from './protocol';

export interface ErrorInfo {
  /** The stable string code (`ENDPOINT_UNREACHABLE`, ...) or a local stand-in. */
  code: string;
  message: string;
  hint: string;
  rpcCode?: number;
  cancelled: boolean;
  data?: ErrorData;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function isErrorData(value: unknown): value is ErrorData {
  return isRecord(value) && typeof value.code === 'string' && typeof value.message === 'string';
}

/** Normalise a thrown value (ResponseError, CancellationError, Error, anything). */
export function toErrorInfo(err: unknown): ErrorInfo {
  if (isRecord(err)) {
    const rpcCode = typeof err.code === 'number' ? err.code : undefined;
    const data = isErrorData(err.data) ? err.data : undefined;
    const name = typeof err.name === 'string' ? err.name : '';
    const cancelled =
      rpcCode === REQUEST_CANCELLED_RPC ||
      name === 'Canceled' ||
      name === 'CancellationError' ||
      data?.code === 'GENERATION_ABORTED';
    if (data) {
      return {
        code: data.code,
        message: data.message,
        hint: typeof data.hint === 'string' ? data.hint : '',
        rpcCode,
        cancelled,
        data,
      };
    }
    const message = typeof err.message === 'string' && err.message ? err.message : String(err);
    return {
      code: cancelled ? 'CANCELLED' : rpcCode === -32602 ? 'INVALID_PARAMS' : 'CLIENT_ERROR',
      message,
      hint: '',
      rpcCode,
      cancelled,
    };
  }
  return { code: 'CLIENT_ERROR', message: String(err), hint: '', cancelled: false };
}

/** One line for a notification: "message — hint" (the hint is what the user can do). */
export function errorText(info: Pick<ErrorInfo, 'message' | 'hint'>): string {
  const message = info.message.trim();
  const hint = info.hint.trim();
  if (!hint) return message;
  return `${message}${/[.!?]$/.test(message) ? '' : '.'} ${hint}`;
}
