/** What a save hands the core: the destination, what the save does, and the data. */
import type { SaveWiring } from "./control.js";
import type { PackedArray } from "./convert.js";
import type { NativeDestination, NativeGroupArray, NativeGroupOptions, NativeSaveOptions, PreparedSave } from "./native.js";

/** Where an array's saves go and what they do, resolved once for every save sending the same options. */
export interface ResolvedRequest {
  destination: NativeDestination;
  request: NativeSaveOptions;
  /** The dataset in this process: its location and path. */
  key: string;
  /** Whether its saves may run on the JS thread when their data is small (see inline.ts). */
  inline: boolean;
  /** The request as the core keeps it converted: made at its first save of one array. */
  prepared?: PreparedSave;
}

/** One array's save ready for the core: its request, the packed data it reads, and its wiring. */
export interface ArrayJob extends SaveWiring {
  resolved: ResolvedRequest;
  packed: PackedArray;
}

/** A group save ready for the core: where, what the save does, and each array with its own options. */
export interface GroupJob extends SaveWiring {
  destination: NativeDestination;
  options: NativeGroupOptions;
  arrays: NativeGroupArray[];
}
