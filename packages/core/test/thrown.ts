/** What `make()` threw (an mtstore error carries its `code`), or undefined when it returned. */
export function thrown(make: () => unknown): (Error & { code?: string }) | undefined {
  try {
    make();
  } catch (error) {
    return error as Error & { code?: string };
  }
  return undefined;
}
