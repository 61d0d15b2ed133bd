import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a as e}from"./chunk-5BEN6JAN.mjs";var t=class extends Error{static{e(this,"StoreError")}name="StoreError";constructor(r,i){super(r,i)}};export{t as a};
