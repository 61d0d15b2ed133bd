// Keeps the container's top process alive after a crash (Diego deletes the container as
// soon as it exits). A timer, not a loop: nothing runs while we wait.

export interface Hold {
  done: Promise<void>;
  end(): void;
}

export function holdContainer(ms: number): Hold {
  let end!: () => void;
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    end = () => { clearTimeout(timer); resolve(); };
  });
  return { done, end };
}
