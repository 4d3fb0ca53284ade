package demo.lib;

/** A class for the cache to carry: compiled once, then fetched from memokeyd. */
public final class Greeter {
    private final String name;

    public Greeter(String name) {
        this.name = name;
    }

    public String greet() {
        StringBuilder out = new StringBuilder("hello, ").append(name);
        for (int i = 0; i < 3; i++) {
            out.append('!');
        }
        return out.toString();
    }
}
