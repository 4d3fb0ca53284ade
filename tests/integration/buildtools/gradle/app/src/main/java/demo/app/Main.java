package demo.app;

import demo.lib.Greeter;

/** Depends on :lib, so its compile task's cache key covers lib's classes too. */
public final class Main {
    public static void main(String[] args) {
        System.out.println(new Greeter(args.length > 0 ? args[0] : "memokeyd").greet());
    }
}
