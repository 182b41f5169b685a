// EPUBCheck for many EPUBs in one JVM (tests/epub_support.py starts it once a session):
// a JVM's first check costs about 7 s of CPU (class loading, the schemas, compiling),
// each one after it well under one.  Each line on stdin is "EPUB<TAB>REPORT"; it runs
// EPUBCheck's own command line on it (EPUB -q --json REPORT), a new checker each time,
// and answers "done STATUS" on stdout.  What EPUBCheck prints goes to stderr.
//
//     java -cp epubcheck.jar tests/EpubCheckBatch.java

import com.adobe.epubcheck.tool.EpubChecker;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

public class EpubCheckBatch {
    public static void main(String[] args) throws Exception {
        PrintStream answers = System.out;
        System.setOut(System.err);
        BufferedReader requests = new BufferedReader(
            new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = requests.readLine()) != null) {
            String[] request = line.split("\t", 2);
            int status = new EpubChecker().run(
                new String[] {request[0], "-q", "--json", request[1]});
            answers.println("done " + status);
            answers.flush();
        }
    }
}
