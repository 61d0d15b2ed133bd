import java.util.HashMap;
import java.util.Map;

/**
 * The demo's "production" app: an inventory service with a cache that never evicts.
 * It serves for a moment, then its cache grows until the JVM runs out of heap.
 */
public class Inventory {
    record Item(String sku, String name, int stock, double price, String warehouse) {}

    public static void main(String[] args) throws Exception {
        Map<String, Item> cache = new HashMap<>();
        String[] warehouses = {"ams-1", "fra-2", "iad-3", "sin-1"};
        System.out.println("inventory: started, caching items (the cache never evicts)");
        for (long i = 0; ; i++) {
            String sku = "SKU-" + i;
            cache.put(sku, new Item(sku, "item number " + i + " of the spring catalogue", (int) (i % 500),
                    (i % 10_000) / 100.0, warehouses[(int) (i % warehouses.length)]));
            if (i % 200_000 == 0) System.out.println("inventory: " + cache.size() + " items cached");
        }
    }
}
