import FileSystemStore from "@zarrita/storage/fs";
import * as zarr from "zarrita";

/** Read a whole array with zarrita.js (an independent reader): flat values and shape. */
export async function readZarrita(
  root: string,
  path: string,
): Promise<{ data: ArrayLike<unknown>; shape: number[]; dtype: string }> {
  const store = new FileSystemStore(root);
  const arr = await zarr.open(zarr.root(store).resolve(path), { kind: "array" });
  const chunk = await zarr.get(arr);
  return { data: chunk.data as ArrayLike<unknown>, shape: chunk.shape, dtype: arr.dtype };
}

/** zarrita values as plain numbers (bigints stay bigints). */
export async function readValues(root: string, path: string): Promise<unknown[]> {
  const { data } = await readZarrita(root, path);
  return Array.from(data);
}
