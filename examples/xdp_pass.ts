/* Passes everything to the stack. */
import { XDP_PASS, xdp } from 'xdpsim';

export const xdp_pass = xdp(() => XDP_PASS);
