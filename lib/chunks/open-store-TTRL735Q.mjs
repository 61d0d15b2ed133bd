import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunk-IJHDZ4UH.mjs";import"./chunk-ZZ33RZJH.mjs";import"./chunk-3E7422RR.mjs";import"./chunk-PNMPPFCT.mjs";import"./chunk-5BEN6JAN.mjs";export{a as openStore};
